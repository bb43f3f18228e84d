"""The explorer in a real browser: Debian's headless Chromium driven by Playwright.

The tests start ``convarch serve`` on a free loopback port, type the seed's template and a syntax error,
move a slider, open shared URLs, and assert on what the page shows. They open the report from disk with
every network request refused. Screenshots go to ``$CONVARCH_SCREENSHOTS`` (or a temporary directory).
Without Chromium or Playwright they skip with one line, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import pytest
from tests.explorer.explorer_client import SEED

import convarch as ca

pytestmark = pytest.mark.xdist_group("browser")  # one worker, one browser for the whole module


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_browser() -> str | None:
    """What the browser tests lack, or None."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if chromium_path() is None:
        missing.append("Debian's chromium (make browser-deps, as root)")
    return f"browser tests need {' and '.join(missing)}" if missing else None


# Decided once for the module: one line in the report, a skip on a developer's machine, a failure in CI.
if (_MISSING := missing_browser()) is not None:
    if os.environ.get("CI") == "true":
        pytest.fail(_MISSING + "; CI must run them", pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def explorer_url() -> Iterator[str]:
    """``convarch serve --port 0 --no-browser`` in a subprocess; its first line gives the URL."""
    src = str(Path(ca.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))}
    process = subprocess.Popen([sys.executable, "-m", "convarch", "serve", "--port", "0", "--no-browser"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"convarch serve did not start: {line}{process.stderr.read() if process.stderr else ''}"
        yield match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CONVARCH_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.console_errors = []  # a failed request (a 4xx) is a console error too
    tab.on("console", lambda message: tab.console_errors.append(message.text) if message.type == "error" else None)
    tab.on("response", lambda r: tab.console_errors.append(f"{r.status} {unquote(r.url)}") if r.status >= 400 else None)
    yield tab
    context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def outputs_shown(page: Any) -> list[str]:
    return page.locator("#layers tbody tr[data-path]:not(.input) td:nth-child(4)").all_inner_texts()


def test_typing_the_seed_template_shows_volumes_findings_and_diagram(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url + "?" + urlencode({"model": "lenet5"}))
    expect(page.locator("#title")).to_contain_text("lenet5")
    page.locator("#pattern").fill("")
    page.locator("#pattern").press_sequentially(SEED)
    page.locator("#input").fill("32x32x3")
    report = ca.analyze(SEED, input_size=(3, 32, 32), N=2, M=3, K=1)  # the page's sliders start at N=2, M=3, K=1
    expect(page.locator("#totals")).to_contain_text(f"{report.params:,}")
    assert outputs_shown(page) == [row.output for row in report.rows]
    assert [page.locator(f"#var-{name}").input_value() for name in "NMK"] == ["2", "3", "1"]
    finding = page.locator("li.finding", has_text="fc-dominates")
    expect(finding).to_contain_text("pre_logits.fc1")
    finding.click()
    expect(page.locator('tr[data-path="pre_logits.fc1"]')).to_have_class(re.compile("selected"))
    expect(page.locator("#diagram svg")).to_be_visible()
    selected = page.locator("#diagram svg .selected")
    expect(selected.first).to_be_attached()
    assert set(selected.evaluate_all("nodes => nodes.map(n => n.getAttribute('data-path'))")) == {"pre_logits.fc1"}
    page.screenshot(path=shots / "explorer-seed.png", full_page=True)
    assert page.errors == []
    assert page.console_errors == []  # no request failed while the template was typed key by key


def test_a_syntax_error_shows_line_column_and_caret(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url)
    expect(page.locator("#layers table")).to_be_visible()
    broken = SEED.replace("-> FC", "->> FC", 1)
    page.locator("#pattern").fill(broken)
    try:
        ca.parse(broken)
    except ca.PatternError as error:
        expected = error
    box = page.locator("#error")
    expect(box).to_be_visible()
    expect(box.locator(".kind")).to_have_text(f"PatternError at line {expected.line}, column {expected.column}")
    caret = box.locator("pre.caret").inner_text().splitlines()
    assert caret == expected.excerpt.splitlines()
    assert caret[-1].index("^") == caret[-2].index("->>") + 2  # under the second '>'
    expect(page.locator("#results")).to_have_class(re.compile("stale"))
    assert "Traceback" not in page.content()
    page.screenshot(path=shots / "explorer-syntax-error.png")
    page.locator("#pattern").fill(SEED)  # fixed: the error goes and the numbers come back
    expect(box).to_be_hidden()
    expect(page.locator("#results")).not_to_have_class(re.compile("stale"))


def test_moving_a_slider_rebinds_the_template(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url + "?" + urlencode({"pattern": SEED, "input": "32x32x3", "N": 2, "M": 3, "K": 1}))
    expect(page.locator("#layers table")).to_be_visible()
    page.locator("#var-N").focus()
    page.keyboard.press("ArrowRight")
    report = ca.analyze(SEED, input_size=(3, 32, 32), N=3, M=3, K=1)
    expect(page.locator("#totals")).to_contain_text(f"{report.params:,}")
    assert outputs_shown(page) == [row.output for row in report.rows]
    assert "N=3" in page.url


def test_a_shared_url_opens_the_same_state(page: Any, explorer_url: str, shots: Path) -> None:
    query = {"pattern": SEED, "input": "64x64x1", "N": 1, "M": 4, "K": 0, "style": "graph"}
    page.goto(explorer_url + "?" + urlencode(query))
    report = ca.analyze(SEED, input_size=(1, 64, 64), N=1, M=4, K=0)
    expect(page.locator("#totals")).to_contain_text(f"{report.macs:,}")
    assert outputs_shown(page) == [row.output for row in report.rows]
    assert page.locator("#style").input_value() == "graph" and page.locator("#input").input_value() == "64x64x1"
    page.goto(explorer_url + "?model=resnet50&style=graph")
    expect(page.locator("#title")).to_contain_text("resnet50 at 224x224x3")
    expect(page.locator("#totals")).to_contain_text(f"{ca.analyze('resnet50').params:,}")
    expect(page.locator("#pattern")).to_have_value(ca.to_pattern("resnet50"))
    expect(page.locator("#diagram svg")).to_be_visible()
    page.screenshot(path=shots / "explorer-resnet50.png")
    page.locator('tr.stage[data-stage="features.layer2"]').click()  # fold a stage
    expect(page.locator('tr[data-path="features.layer2.0.body.conv1"]')).to_be_hidden()
    assert page.errors == []


def test_picking_a_zoo_model_shows_it_and_its_pattern(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url)
    expect(page.locator("#layers table")).to_be_visible()
    page.locator("#model").select_option("alexnet")
    expect(page.locator("#title")).to_contain_text("alexnet at 224x224x3")
    expect(page.locator("#paper")).to_contain_text(ca.model_info("alexnet").paper.cite())
    expect(page.locator("#pattern")).to_have_value(ca.to_pattern("alexnet"))
    assert outputs_shown(page) == [row.output for row in ca.analyze("alexnet").rows]
    assert "model=alexnet" in page.url and page.locator("#sliders input").count() == 0


def test_sweep_and_compare_views(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url + "?" + urlencode({"view": "sweep", "pattern": SEED, "N": "1..2", "M": "2..3", "K": "1"}))
    expect(page.locator("#sweep-table tbody tr")).to_have_count(4)
    params = ca.analyze(SEED, N=2, M=3, K=1).params
    expect(page.locator("#sweep-table")).to_contain_text(f"{params:,}")
    page.wait_for_function("() => document.querySelector('#sweep-chart img')?.naturalWidth > 0")
    page.screenshot(path=shots / "explorer-sweep.png", full_page=True)
    page.goto(explorer_url + "?" + urlencode({"view": "compare", "models": "alexnet,vgg16,googlenet,resnet50"}))
    expect(page.locator("#compare-table tbody tr")).to_have_count(4)
    expect(page.locator("#compare-table")).to_contain_text(f"{ca.analyze('vgg16').params:,}")
    page.wait_for_function("() => document.querySelector('#compare-chart img')?.naturalWidth > 0")
    page.screenshot(path=shots / "explorer-compare.png", full_page=True)
    assert page.errors == []


def test_the_report_opens_from_disk_offline_without_console_errors(browser: Any, tmp_path: Path, shots: Path) -> None:
    path = ca.write_report("googlenet_paper", tmp_path / "googlenet.html")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, offline=True)
    fetched: list[str] = []
    context.route(re.compile(r"^(?!file:).*"), lambda route: (fetched.append(route.request.url), route.abort()))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(path.as_uri())
    report = ca.analyze("googlenet_paper")
    expect(page.locator("#layers tbody tr[data-path]:not(.input)")).to_have_count(len(report.rows))
    expect(page.locator("#totals")).to_contain_text(f"{report.params:,}")
    page.locator("#batch").fill("32")
    expect(page.locator("#training-batch")).to_contain_text(f"{report.training_bytes(32):,} B")
    first = ca.check("googlenet_paper")[0]
    page.locator("li.finding").first.click()
    expect(page.locator(f'tr[data-path="{first.layer}"]')).to_have_class(re.compile("selected"))
    selected = page.locator(".diagram svg .selected").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
    assert selected and set(selected) == {first.layer}  # the same layer in the volumes figure
    page.locator('#layers th[data-key="params"]').click()  # sort by params, largest first
    largest = max(report.rows, key=lambda row: row.params)
    expect(page.locator("#layers tbody tr").nth(1)).to_have_attribute("data-path", largest.path)
    page.screenshot(path=shots / "report-googlenet.png")
    context.close()
    assert fetched == [] and problems == []


def test_the_report_batch_field_takes_whole_numbers_and_computes_exactly(
    browser: Any, tmp_path: Path, shots: Path
) -> None:
    path = ca.write_report("vgg11", tmp_path / "vgg11.html")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(path.as_uri())
    report = ca.analyze("vgg11")
    # A plain chain of layers has no block figure: said plainly, with no command-line flag in sight.
    expect(page.locator("figure", has_text="Blocks, as their papers draw them")).to_contain_text("No composite blocks")
    assert "--style" not in page.locator("body").inner_text()
    for wrong in ["0", "-5", "", "2.5", "1e9"]:
        page.locator("#batch").fill(wrong)
        expect(page.locator("#batch-problem")).to_contain_text("whole number of at least 1")
        expect(page.locator("#training-batch")).to_have_text("-")
    page.locator("#totals").screenshot(path=shots / "report-batch-wrong.png")
    page.locator("#batch").fill("1000000000")
    expect(page.locator("#batch-problem")).to_have_text("")
    exact = report.training_bytes(10**9)  # Python's integers are exact; the page's BigInt must agree
    expect(page.locator("#training-batch")).to_contain_text(f"PiB ({exact:,} B)")
    expect(page.locator("#forward-batch")).to_contain_text(f"({report.forward_bytes * 10**9:,} B)")
    page.locator("#totals").screenshot(path=shots / "report-batch.png")
    page.close()
    assert problems == []


def test_an_unknown_view_falls_back_to_explore(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url + "?view=bogus&model=lenet5")
    expect(page.locator("#layers table")).to_be_visible()
    expect(page.locator("#view-explore")).to_be_visible()
    expect(page.locator('nav button[data-view="explore"]')).to_have_class(re.compile("active"))
    assert page.errors == [] and page.console_errors == []


def test_a_shared_link_with_a_bad_binding_shows_the_api_error(page: Any, explorer_url: str, shots: Path) -> None:
    link = explorer_url + "?" + urlencode({"N": "-5", "pattern": SEED})
    page.goto(link)
    box = page.locator("#error")
    expect(box).to_contain_text("ConfigError")
    expect(box).to_contain_text("template variable N must be an integer")
    expect(page.locator("#totals")).to_be_empty()  # no numbers for bindings the link does not give
    expect(page.locator("#sliders output").first).to_have_text("-5")
    page.screenshot(path=shots / "explorer-bad-binding.png")
    assert page.url == link  # the link is kept as it was shared


def test_a_slider_widens_to_the_bound_value(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url + "?" + urlencode({"pattern": SEED, "N": 99, "M": 3, "K": 1, "input": "32x32x3"}))
    report = ca.analyze(SEED, input_size=(3, 32, 32), N=99, M=3, K=1)
    expect(page.locator("#totals")).to_contain_text(f"{report.params:,}")
    slider = page.locator("#var-N")
    assert (slider.get_attribute("max"), slider.input_value()) == ("99", "99")
    assert page.locator("#var-M").get_attribute("max") == "12"


def test_a_broken_text_updates_the_url_and_switches_its_sliders_off(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url)
    expect(page.locator("#layers table")).to_be_visible()
    page.locator("#pattern").fill("")
    expect(page.locator("#error")).to_contain_text("PatternError")
    expect(page.locator("#results")).to_have_class(re.compile("stale"))
    expect(page.locator("#var-N")).to_be_disabled()
    page.wait_for_function("() => new URLSearchParams(location.search).get('pattern') === ''")
    page.screenshot(path=shots / "explorer-cleared.png")
    page.locator("#pattern").fill(SEED)  # the text reads again: its sliders come back
    expect(page.locator("#var-N")).to_be_enabled()
    expect(page.locator("#results")).not_to_have_class(re.compile("stale"))
    assert page.console_errors == []


def test_the_diagram_at_and_depth_are_fields_kept_in_the_url(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url + "?model=resnet50&at=layer1.0&style=block")
    expect(page.locator("#at")).to_have_value("layer1.0")
    expect(page.locator('#diagram svg [data-path="features.layer1.0.body.conv1"]').first).to_be_attached()
    expect(page.locator('#diagram svg [data-path^="features.layer2"]')).to_have_count(0)
    assert "at=layer1.0" in page.url
    page.locator("#at").fill("layer2.0")
    expect(page.locator('#diagram svg [data-path="features.layer2.0.body.conv1"]').first).to_be_attached()
    assert "at=layer2.0" in page.url and "style=block" in page.url
    page.screenshot(path=shots / "explorer-at.png")


def test_a_link_with_a_model_and_a_pattern_says_which_it_shows(page: Any, explorer_url: str) -> None:
    page.goto(explorer_url + "?pattern=x&model=resnet50")
    expect(page.locator("#title")).to_contain_text("resnet50")
    expect(page.locator("#notice")).to_contain_text("both model=resnet50 and a pattern")
    expect(page.locator("#notice")).to_contain_text("shows the model")


def test_a_row_inside_a_collapsed_run_selects_the_run(page: Any, explorer_url: str, shots: Path) -> None:
    page.goto(explorer_url + "?model=resnet50")
    expect(page.locator("#diagram svg")).to_be_visible()
    page.locator('tr[data-path="features.layer3.5.body.conv1"]').click()
    selected = page.locator("#diagram svg .selected")
    expect(selected.first).to_be_attached()
    members = selected.evaluate_all("nodes => nodes.map(n => n.getAttribute('data-members') || '')")
    assert members and all("features.layer3.5" in m.split() for m in members)
    page.locator("#diagram").screenshot(path=shots / "explorer-run-selected.png")
