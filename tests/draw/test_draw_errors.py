"""Bad input: draw refuses what analyze refuses, with the same typed errors; files appear whole or not at all."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
from torch import nn

import convarch as ca
from convarch.api import bound_spec
from convarch.cli import main
from convarch.draw.reading import read_network

REFUSED = [
    ("vgg17", {}),  # an unknown name
    ("INPUT -> CONV3-", {}),  # a syntax error
    ("INPUT(4x4x3) -> CONV5-8(p=0) -> FC10", {}),  # a volume that collapses
    ("INPUT(32x32x3) -> [CONV3-8]*N -> FC10", {}),  # an unbound template variable
    ("vgg16", {"widht": 3}),  # an unknown keyword
    ("resnet*", {}),  # a name pattern, not one model
    ("vgg16", {"input_size": (3, 16, 16)}),  # too small for five 2x2 pools
]


@pytest.mark.parametrize(("source", "keywords"), REFUSED)
def test_draw_refuses_what_analyze_refuses_the_same_way(source: str, keywords: dict) -> None:
    with pytest.raises(ca.ConvarchError) as analysed:
        ca.analyze(source, **keywords)
    with pytest.raises(ca.ConvarchError) as drawn:
        ca.draw(source, **keywords)
    assert type(drawn.value) is type(analysed.value)
    assert str(drawn.value) == str(analysed.value)


def test_a_module_without_a_spec_is_refused() -> None:
    with pytest.raises(ca.ConfigError, match="Sequential has no spec to draw"):
        ca.draw(nn.Sequential(nn.Conv2d(3, 8, 3)))


def test_a_convarch_model_draws_from_its_spec() -> None:
    model = ca.build("INPUT(32x32x3) -> CONV3-8 -> RELU -> POOL2 -> FC10")
    assert "16x16x8" in ca.draw(model).svg


def test_bad_style_and_depth_are_clear() -> None:
    with pytest.raises(ca.ConfigError, match="unknown style 'blocks'.*did you mean 'block'"):
        ca.draw("vgg16", style="blocks")
    with pytest.raises(ca.ConfigError, match="depth must be a whole number"):
        ca.draw("vgg16", depth=-1)
    with pytest.raises(ca.ConfigError, match="at names a module by its path"):
        ca.draw("resnet50", at=123)  # type: ignore[arg-type]


def test_a_png_too_large_to_rasterise_is_refused_before_any_pixel_and_leaves_no_file(tmp_path, capsys) -> None:
    chain = "INPUT(32x32x3) -> " + " -> ".join(f"CONV1-{8 + i % 50}" for i in range(4000)) + " -> FC10"
    (tmp_path / "chain.txt").write_text(chain)
    code = main(["draw", f"@{tmp_path / 'chain.txt'}", "--out", str(tmp_path / "chain.png")])
    err = capsys.readouterr().err.replace("\n", " ")
    assert code == 1 and "over the 100-megapixel limit" in err and "save it as .svg" in err and "--depth" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.txt"]
    assert main(["draw", f"@{tmp_path / 'chain.txt'}", "--out", str(tmp_path / "chain.svg")]) == 0  # no limit


def test_an_unknown_at_path_lists_the_nearest_module_paths() -> None:
    with pytest.raises(ca.ConfigError, match=r"no module at 'inception3c'.*nearest.*features\.inception3a"):
        ca.draw("googlenet_paper", style="block", at="inception3c")
    with pytest.raises(ca.ConfigError, match=r"'conv1' matches \d+ modules .*give more of the path"):
        ca.draw("resnet18", style="block", at="conv1")


def test_an_ambiguous_at_says_how_many_it_leaves_out() -> None:
    spec, volume, _ = bound_spec("googlenet_paper")
    count = sum(path.endswith(".conv1") for path in read_network(spec, volume).parts_by_path)
    assert count > 6
    with pytest.raises(ca.ConfigError, match=rf"matches {count} modules \(features\.aux1.*and {count - 6} more\)"):
        ca.draw("googlenet_paper", style="block", at="conv1")


def test_an_unknown_at_suggests_paths_near_by_their_last_name() -> None:
    with pytest.raises(ca.ConfigError, match=r"nearest module paths are .*features\.conv1") as error:
        ca.draw("lenet5", style="block", at="c1")
    assert "pre_logits.fc1" in str(error.value)  # several paths, not only the closest one


@pytest.mark.parametrize("style", ["volumes", "block", "graph"])
def test_at_selects_a_section_of_the_network(style: str) -> None:
    """``pre_logits`` holds ResNet-50's pooling: a path the report gives, so --at takes it."""
    svg = ca.draw("resnet50", style=style, at="pre_logits").svg
    assert 'data-path="pre_logits.gap1"' in svg and "features.layer4" not in svg and "1x1x2048" in svg


def test_at_selects_by_full_path_or_unique_suffix() -> None:
    full = ca.draw("googlenet_paper", style="block", at="features.inception3a").svg
    assert ca.draw("googlenet_paper", style="block", at="inception3a").svg == full
    assert "INCEPTION(64, 96, 128, 16, 32, 32)" in full and "28x28x256" in full
    stage = ca.draw("resnet50", at="layer2").svg  # the volumes style of one stage
    assert "features.layer2.0" in stage and "features.layer3" not in stage
    rows = [row for row in ca.analyze("resnet50").rows if row.path.startswith("features.layer2.")]
    assert f"input 56x56x256; {sum(r.params for r in rows):,} params; {sum(r.macs for r in rows):,} MACs" in stage


@pytest.mark.parametrize("name", ["figure.pdf", "figure", "figure.svg.txt"])
def test_an_unknown_suffix_is_refused_before_drawing(tmp_path: Path, name: str) -> None:
    with pytest.raises(ca.ConfigError, match=r"must end in \.svg, \.png"):
        ca.draw("lenet5").save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ca.ConfigError, match="does not exist; create it first"):
        ca.draw("lenet5").save(tmp_path / "missing" / "lenet.svg")


def test_a_read_only_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # as root a chmod would not stop the writes
    with pytest.raises(ca.ConfigError, match="cannot write .*lenet.png: the file system is read-only"):
        ca.draw("lenet5").save(tmp_path / "lenet.png")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = tmp_path / "lenet.svg"
    previous.write_text("old")

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ca.ConfigError, match="the disk is full; the previous lenet.svg is intact"):
        ca.draw("lenet5").save(previous)
    assert [p.name for p in tmp_path.iterdir()] == ["lenet.svg"] and previous.read_text() == "old"


def test_cli_draw_writes_svg_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg, png = tmp_path / "a.svg", tmp_path / "a.png"
    assert main(["draw", "googlenet_paper", "--style", "block", "--at", "inception3a", "--out", str(svg)]) == 0
    assert "INCEPTION(64, 96, 128, 16, 32, 32)" in svg.read_text()
    pattern = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
    args = ["draw", pattern, "--set", "N=2", "--set", "M=3", "--set", "K=1", "--input", "32x32x3", "--out", str(png)]
    assert main(args) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and "wrote" in capsys.readouterr().out


def test_cli_draw_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "vgg16", "--out", str(tmp_path / "x.jpg")]) == 1
    assert "must end in .svg, .png" in capsys.readouterr().err
    assert main(["draw", "vgg16", "--style", "block", "--out", str(tmp_path / "x.svg")]) == 1
    err = capsys.readouterr().err
    assert "no composite block" in err and "style='volumes'" in err and "--style" in err and "Traceback" not in err
    assert main(["draw", "googlenet", "--at", "inception9", "--out", str(tmp_path / "x.svg")]) == 1
    assert "nearest module paths" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_show_says_how_to_draw_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "resnet18", "--compact"]) == 0
    assert "convarch draw resnet18 --out resnet18.svg" in capsys.readouterr().out


def test_cli_draw_names_what_is_wrong_with_the_out_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"x")
    cases = [("", "path is empty: give a file name ending in .svg, .png"),
             (str(existing / "x.svg"), "existing.png is a file, not a directory"),
             ("/dev/convarch-draw-test.svg", "/dev holds devices and does not take new files")]  # fmt: skip
    for out, message in cases:
        assert main(["draw", "lenet5", "--out", out]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert not Path("/dev/convarch-draw-test.svg").exists() and existing.read_bytes() == b"x"
