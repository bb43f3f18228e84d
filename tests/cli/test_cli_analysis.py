"""``convarch compare``, ``profile``, ``sweep`` and ``bench`` through ``main``: output, files and clear errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import convarch as ca
from convarch.analysis import seed_lineup
from convarch.cli import main

TINY = "INPUT(16x16x3) -> CONV3-8 -> RELU -> POOL2 -> FC10"
SEED = "INPUT(32x32x3) -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


@pytest.fixture(autouse=True)
def _wide(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables are not cut at 80 columns


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_defaults_to_the_seed_lineup_and_notes_missing_models(capsys) -> None:
    code, out, err = run(capsys, "compare", "--json")
    assert code == 0
    present, missing = seed_lineup()
    assert [m["name"] for m in json.loads(out)["models"]] == present
    assert all(name in err for name in missing)


def test_compare_table_and_chart(capsys, tmp_path: Path) -> None:
    chart = tmp_path / "zoo.svg"
    code, out, err = run(capsys, "compare", "alexnet", "vgg16", "--chart", str(chart))
    assert code == 0 and chart.exists() and "chart written" in err
    assert "vgg16" in out and "2014" in out and "138.4M" in out and "15.470" in out and "71.59 [1]" in out
    assert "[1] torchvision" in out and "89%" in out  # the source footnote and VGG-16's FC share


def test_compare_measure_adds_latency(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "compare", TINY, "--measure", "--batch", "1,2", "--json")
    assert code == 0
    latency = json.loads(out)["models"][0]["latency_s"]
    assert set(latency) == {"1", "2"} and all(v > 0 for v in latency.values())


def test_profile_writes_report_and_chart(capsys, tmp_path: Path) -> None:
    report, chart = tmp_path / "vgg.csv", tmp_path / "vgg.png"
    code, out, _ = run(capsys, "profile", "vgg16", "--out", str(report), "--chart", str(chart))
    assert code == 0 and chart.exists()
    assert "memory: centre at 18% of depth" in out and "params: centre at 88%" in out
    lines = report.read_text().splitlines()
    assert lines[1].startswith("# conventions:")
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in lines if not line.startswith("#")))))
    assert sum(int(r["params"]) for r in rows) == ca.analyze("vgg16").params


def test_profile_json_and_html(capsys, tmp_path: Path) -> None:
    for suffix in (".json", ".html"):
        path = tmp_path / f"lenet{suffix}"
        assert run(capsys, "profile", "lenet5", "--out", str(path))[0] == 0
    assert json.loads((tmp_path / "lenet.json").read_text())["totals"]["params"] == ca.analyze("lenet5").params
    assert (tmp_path / "lenet.html").read_text().startswith("<table")


def test_sweep_table_files_and_chart(capsys, tmp_path: Path) -> None:
    out_file, chart = tmp_path / "sweep.json", tmp_path / "sweep.png"
    argv = ["sweep", SEED, "--set", "N=1..3", "--set", "M=2..4", "--set", "K=0..2"]
    code, out, err = run(capsys, *argv, "--out", str(out_file), "--chart", str(chart))
    assert code == 0 and chart.exists() and "27 instances analysed" in err
    assert "fc-dominates" in out  # a sizing finding shown next to the counts
    assert len(json.loads(out_file.read_text())["instances"]) == 27


def test_a_sweep_in_which_no_instance_works_out_exits_1(capsys) -> None:
    pattern = "INPUT(8x8x3) -> [CONV3-8 -> POOL2]*N -> GAP -> FC10"
    code, _, err = run(capsys, "sweep", pattern, "--set", "N=4,5")  # 8x8 halves to nothing before 4 pools
    assert code == 1 and "2 did not work out" in err and "no instance worked out" in err
    assert run(capsys, "sweep", pattern, "--set", "N=2..4")[0] == 0  # one that fails among some that work


def test_bench_json(capsys) -> None:
    code, out, _ = run(capsys, "bench", TINY, "--batch", "1,2", "--threads", "1", "--repeats", "3", "--json")
    assert code == 0
    data = json.loads(out)
    assert [t["batch"] for t in data["timings"]] == [1, 2] and data["threads"] == 1
    assert data["matmul_peak_gflops"] > 0 and data["timings"][0]["fraction_of_peak"] > 0


def test_bench_table(capsys) -> None:
    code, out, _ = run(capsys, "bench", TINY, "--repeats", "3", "--channels-last", "--input", "24x24x3")
    assert code == 0 and "24x24x3" in out and "channels_last" in out and "GFLOP/s" in out


def test_profile_and_bench_bind_a_template_with_set(capsys) -> None:
    bound = ["--set", "N=1", "--set", "M=2", "--set", "K=1"]
    code, out, _ = run(capsys, "profile", SEED, "--full", *bound)
    expected = ca.analyze(SEED, N=1, M=2, K=1)
    assert code == 0 and f"{expected.params:,}" in out
    code, out, _ = run(capsys, "bench", SEED, *bound, "--input", "16x16x3", "--repeats", "3", "--max-time", "0",
                       "--json")  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["input_chw"] == [3, 16, 16]
    assert data["macs_per_image"] == ca.analyze(SEED, input_size=(3, 16, 16), N=1, M=2, K=1).macs
    code, _, err = run(capsys, "bench", SEED)
    assert code == 2 and "unbound template variables K, M, N" in err and "--set K=2" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "vgg61"], "unknown model 'vgg61'"),
        (["profile", "resnet9000"], "unknown model"),
        (["profile", "alexnet", "--input", "8x8x3"], "collapses"),
        (["compare", "alexnet", "--input", "0x0x3"], "from 1 to"),
        (["bench", "alexnet", "--input", "a picture"], "must be a volume H x W x C"),
        (["bench", "alexnet", "--input", "224x224x3x2"], "must be a volume H x W x C"),
        (["bench", "alexnet", "--input", "224x224"], "must be a volume H x W x C"),
        (["bench", "alexnet", "--batch", "one"], "--batch"),
        (["bench", "alexnet", "--dtype", "fp16"], "dtype"),
        (["compare", "alexnet", "--chart", "/no/such/dir/zoo.png"], "does not exist"),
        (["profile", "vgg16", "--chart", "/no/such/dir/vgg.svg"], "does not exist"),
        (["sweep", SEED, "--set", "N=1..2", "--chart", "/no/such/dir/s.png"], "does not exist"),
        (["sweep", SEED, "--set", "N=3..1"], "empty range"),
        (["sweep", SEED, "--set", "N=1", "--set", "M=1"], "K"),
        (["profile", "vgg16", "--out", "report.xlsx"], ".json, .csv, .html"),
    ],
)
def test_bad_input_gets_one_clear_error_and_no_traceback(capsys, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code != 0 and message in err and "Traceback" not in err
