"""The fast path where it helps: ``bench``, ``evaluate``, ``predict`` and ``compare --measure`` run what
``ca.optimize`` makes of a model, and say so; the answers are those of the plain model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, write_image

import convarch as ca
from convarch.analysis.measure import bench
from convarch.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fast") / "run"
    ca.train(f"{TINY} -> SOFTMAX", "digits", out=out, epochs=2, quiet=True, labels_per_class=30, threads=1)
    return out / "best.safetensors"


def test_bench_measures_the_optimized_path_and_names_it() -> None:
    options = {"batches": (1, 2), "warmup": 1, "repeats": 3, "measure_peak": False}
    ort = bench(TINY, runtime="onnxruntime", **options)
    assert ort.runtime.startswith("onnxruntime") and [t.batch for t in ort.timings] == [1, 2]
    fast = bench(TINY, optimize=True, dtype="fp32", **options)
    assert fast.runtime.startswith("torch optimized") and "folded into" in fast.runtime
    assert bench(TINY, **options).runtime == "torch eager"
    with pytest.raises(ca.ConfigError, match="unknown runtime 'tvm'"):
        bench(TINY, runtime="tvm", **options)


def test_evaluate_on_onnxruntime_gives_the_plain_model_s_results(checkpoint: Path) -> None:
    plain = ca.evaluate(checkpoint, "digits", device="cpu")
    fast = ca.evaluate(checkpoint, "digits", device="cpu", runtime="onnxruntime")
    assert fast.stats.count == plain.stats.count and fast.top1 == plain.top1
    assert plain.runtime == "torch eager" and fast.runtime.startswith("onnxruntime ")  # which path was measured
    assert fast.to_dict()["runtime"] == fast.runtime
    assert torch.equal(fast.stats.confusion, plain.stats.confusion)
    assert fast.stats.loss == pytest.approx(plain.stats.loss, abs=1e-5)  # logits, not softmax applied twice


def test_predict_on_the_fast_paths_gives_the_same_probabilities(checkpoint: Path, tmp_path: Path) -> None:
    image = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    (plain,) = ca.predict(checkpoint, image, topk=3)
    for options in ({"runtime": "onnxruntime"}, {"optimize": True}):
        (fast,) = ca.predict(checkpoint, image, topk=3, **options)
        assert [name for name, _ in fast.top] == [name for name, _ in plain.top]
        assert [p for _, p in fast.top] == pytest.approx([p for _, p in plain.top], abs=2e-2), options


def test_the_cli_takes_the_fast_path_options(capsys, checkpoint: Path, tmp_path: Path) -> None:
    image = write_image(tmp_path / "digit.png", "L", size=(28, 28))
    assert main(["predict", str(checkpoint), str(image), "--runtime", "onnxruntime", "--topk", "2"]) == 0
    assert "digit.png:" in capsys.readouterr().out
    code = main(["bench", TINY, "--optimize", "--dtype", "fp32", "--repeats", "3", "--warmup", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["runtime"].startswith("torch optimized") and result["dtype"] == "fp32"
    code = main(["compare", "resnet20", "--measure", "--batch", "1,2", "--runtime", "onnxruntime", "--json"])
    (row,) = json.loads(capsys.readouterr().out)["models"]
    assert code == 0 and set(row["latency_s"]) == {"1", "2"}
    code = main(["evaluate", str(checkpoint), "--data", "digits", "--optimize", "--json", "--device", "cpu"])
    assert code == 0 and json.loads(capsys.readouterr().out)["count"] > 0


def test_bench_chooses_the_torch_path_at_each_batch_and_says_where_they_differ(monkeypatch) -> None:
    import convarch.analysis.measure as measure

    real_time_batch = measure.time_batch

    def layouts_by_batch(model, x, **options):  # optimize's candidates: NCHW wins at batch 1, NHWC above
        if options.get("measure_memory", True):
            return real_time_batch(model, x, **options)  # bench's own timing
        nhwc = model.memory_format == torch.channels_last
        return [0.001 if nhwc == (x.shape[0] > 1) else 0.002] * 3, None

    monkeypatch.setattr(measure, "time_batch", layouts_by_batch)
    result = bench(TINY, optimize=True, dtype="fp32", batches=(1, 4), warmup=1, repeats=3, measure_peak=False)
    assert [t.batch for t in result.timings] == [1, 4] and result.runtime.startswith("torch optimized: ")
    assert "batch 1: fp32 NCHW (the fastest of 2 timed)" in result.runtime
    assert "batch 4: fp32 channels_last (the fastest of 2 timed)" in result.runtime
    assert result.runtime.count("folded into") == 1 and result.channels_last  # fields: the largest batch


def test_evaluate_chooses_its_fast_path_for_the_batches_it_will_run(checkpoint: Path, monkeypatch) -> None:
    import sys

    optimize_module = sys.modules["convarch.deploy.optimize"]  # the package's ``optimize`` is the function
    asked = []
    real_optimize = optimize_module.optimize

    def recording(model, **options):
        asked.append(options["batch_size"])
        return real_optimize(model, **options)

    monkeypatch.setattr(optimize_module, "optimize", recording)
    result = ca.evaluate(checkpoint, "digits", device="cpu", optimize=True, batch_size=20000)
    assert asked == [result.stats.count] and result.stats.count < 20000  # the held-out side, not 20,000
