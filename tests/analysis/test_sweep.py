"""Design sweeps: every instance analysed, failures kept as results, findings attached, files written."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

import convarch as ca
from convarch.analysis.sweep import parse_setting, sizing_checker, sweep, to_csv, to_json
from convarch.spec.bind import bind

SEED = "INPUT(32x32x3) -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


def test_parse_setting() -> None:
    assert parse_setting("N=1..3") == ("N", [1, 2, 3])
    assert parse_setting("m = 2, 4,8") == ("M", [2, 4, 8])
    assert parse_setting("K=0") == ("K", [0])
    for bad in ("N", "N=3..1", "N=a..b", "=1..2", "N=1..2..3"):
        with pytest.raises(ca.ConfigError, match="the setting"):
            parse_setting(bad)


def test_every_instance_is_analysed_like_a_single_network() -> None:
    spec = ca.parse(SEED)
    results = sweep(spec, {"N": [1, 2, 3], "M": [2, 3, 4], "K": [0, 1, 2]})
    assert len(results) == 27 and all(r.ok for r in results)
    for r in results[::5]:
        report = ca.analyze(bind(spec, **r.values))
        assert (r.params, r.macs, r.forward_bytes) == (report.params, report.macs, report.forward_bytes)
        assert r.training_bytes == report.training_bytes() and r.layers == len(report.rows)
    assert len({r.params for r in results}) > 20  # the instances really differ


def test_an_instance_that_does_not_work_out_is_a_result() -> None:
    spec = ca.parse("INPUT(16x16x3) -> [CONV3-8(p=0)]*N -> FC10")
    results = sweep(spec, {"N": [1, 7, 8]})
    assert [r.ok for r in results] == [True, True, False]
    assert "collapses" in results[2].error and results[2].params == 0


def test_sizing_findings_come_from_ca_check() -> None:
    checker = sizing_checker()
    assert checker is ca.check
    spec = ca.parse(SEED)
    results = sweep(spec, {"N": [1], "M": [2], "K": [0, 1]}, checker=checker)
    for r in results:
        expected = ca.check(bind(spec, **r.values))
        assert [(f["rule"], f["layer"]) for f in r.findings] == [(f.rule, f.layer) for f in expected]


def test_hundreds_of_instances_take_well_under_a_second() -> None:
    spec = ca.parse(SEED)
    settings = {"N": [1, 2, 3, 4, 5], "M": [1, 2, 3, 4, 5], "K": [0, 1, 2, 3]}  # 100 instances
    started = time.perf_counter()
    results = sweep(spec, settings)
    elapsed = time.perf_counter() - started
    assert len(results) == 100
    assert elapsed < 2.0, f"{elapsed:.2f} s for 100 instances (benchmarks/bench_analysis.py measures it quietly)"


def test_sweep_refuses_missing_and_unknown_variables() -> None:
    spec = ca.parse(SEED)
    with pytest.raises(ca.ConfigError, match="K"):
        sweep(spec, {"N": [1], "M": [2]})
    with pytest.raises(ca.ConfigError, match="no variable Q"):
        sweep(spec, {"N": [1], "M": [2], "K": [0], "Q": [1]})


def test_sweeps_too_big_to_finish_are_refused_before_the_first_instance() -> None:
    with pytest.raises(ca.ConfigError, match="N goes up to 100,000, over the repeat limit of 10,000"):
        parse_setting("N=1..100000")
    with pytest.raises(ca.ConfigError, match="over the repeat limit"):
        parse_setting("N=1,20000")
    with pytest.raises(ca.ConfigError, match="N goes up to 999,999,999,999,999,999,999,999"):
        parse_setting("N=1..999999999999999999999999")  # refused from the bound: the range is never enumerated
    seen = []
    with pytest.raises(ca.ConfigError, match="have 50,015,001 layers in all, over the sweep limit of 1,000,000"):
        sweep(ca.parse("INPUT(32x32x3) -> [CONV3-8]*N -> FC10"), dict([parse_setting("N=0..10000")]),
              on_instance=seen.append)  # fmt: skip
    assert seen == []


def test_csv_and_json_outputs() -> None:
    results = sweep(ca.parse(SEED), {"N": [1, 2], "M": [2], "K": [1]}, checker=ca.check)
    lines = to_csv(results, SEED).splitlines()
    assert lines[0] == f"# sweep of {SEED}" and lines[1].startswith("# conventions:")
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[2:]))))
    assert [int(r["N"]) for r in rows] == [1, 2] and int(rows[1]["params"]) == results[1].params
    data = json.loads(to_json(results, SEED))
    assert data["pattern"] == SEED and data["instances"][0]["values"] == {"N": 1, "M": 2, "K": 1}
    assert data["instances"][0]["findings"] == results[0].findings
