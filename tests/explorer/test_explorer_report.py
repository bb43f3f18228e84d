"""``convarch report``: one self-contained page built from the public API's answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.explorer.explorer_client import SEED

import convarch as ca
from convarch.cli import main
from convarch.explorer.report import gather


def embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="convarch-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_the_page_holds_the_report_the_findings_and_the_paper() -> None:
    page = ca.report_html("alexnet")
    data = embedded(page)
    assert data["report"] == ca.analyze("alexnet").to_dict()
    assert [(f["rule"], f["layer"]) for f in data["findings"]] == [(f.rule, f.layer) for f in ca.check("alexnet")]
    info = ca.model_info("alexnet")
    assert info.paper.cite() in page.replace("&amp;", "&")
    assert all(deviation.split("'")[0][:40] in page for deviation in info.deviations)
    assert f"{ca.analyze('alexnet').params:,} (matches)" in page  # computed next to the published count


def test_the_page_holds_the_volumes_and_block_diagrams() -> None:
    page = ca.report_html("resnet18")
    assert ca.draw("resnet18").svg in page and ca.draw("resnet18", style="block").svg in page
    plain = ca.report_html("alexnet")  # no composite block: the page says so where the figure would be
    assert ca.draw("alexnet").svg in plain and "No composite blocks: this network is a plain chain" in plain
    assert "convarch draw" not in plain and "--style" not in plain  # no error text, no command-line flag


def test_memory_for_any_batch_comes_from_the_report() -> None:
    report = ca.analyze("resnet18")
    memory = embedded(ca.report_html("resnet18"))["memory"]
    assert memory["forward_per_image"] == report.forward_bytes
    batch = 32  # the page's formula: the line through batch 0 and batch 1
    assert memory["training_at_0"] + (memory["training_at_1"] - memory["training_at_0"]) * batch == (
        report.training_bytes(batch)
    )


def test_the_page_is_self_contained() -> None:
    page = ca.report_html(SEED, N=2, M=3, K=1)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from elsewhere
    assert not re.search(r"@import|url\(\s*['\"]?http", page)
    assert "default-src 'none'" in page  # and the browser is told to fetch nothing at all
    assert "<!--slot:" not in page


def test_a_template_page_shows_the_bound_pattern() -> None:
    page = gather(SEED, input_size=(3, 64, 64), N=1, M=2, K=0)
    assert page.pattern == ca.to_pattern(ca.bind(ca.parse(SEED), input_size=(3, 64, 64), N=1, M=2, K=0))
    assert page.report.input.h == 64 and page.info is None


def test_script_text_cannot_end_the_data_element() -> None:
    page = ca.report_html("INPUT(32x32x3) -> CONV3-8 -> FC10  # </script><script>alert(1)</script>")
    assert page.count("</script>") == 3  # the data element and the two scripts, nothing from the comment


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lenet.html"
    assert main(["report", "lenet5", "--out", str(out)]) == 0
    assert embedded(out.read_text())["report"] == ca.analyze("lenet5").to_dict()
    template = tmp_path / "seed.html"
    assert main(["report", SEED, "--set", "N=1", "--set", "M=2", "--set", "K=1", "--input", "32x32x3",
                 "--out", str(template)]) == 0  # fmt: skip
    assert embedded(template.read_text())["report"] == ca.analyze(SEED, N=1, M=2, K=1).to_dict()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["report", "lenet5", "--out", "x.pdf"], "must end in .html"),
        (["report", "lenet5", "--out", "missing/x.html"], "does not exist"),
        (["report", "vgg17", "--out", "x.html"], "Did you mean"),
        (["report", "INPUT -> CONV3-8 ->> FC10", "--out", "x.html"], "column"),
    ],
)
def test_cli_mistakes_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) != 0
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_page_files_ship_as_package_data() -> None:
    import tomllib

    static = Path(ca.__file__).parent / "explorer" / "static"
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["convarch.explorer"]
    shipped = {p.name for g in globs for p in static.glob(g.removeprefix("static/"))}
    assert shipped == {p.name for p in static.iterdir() if p.is_file()}
