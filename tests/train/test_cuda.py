"""On a CUDA GPU (skipped elsewhere; CI has none): the defaults and batched JPEG decoding (compiled runs are
timed by gpu_check's compile_small_nets).
``benchmarks/gpu_check.py`` runs these checks and the timed ones on a device in one go."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.data.test_batch_decode import jpeg_folder

import convarch as ca
from convarch.data import load_data

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_lenet5_trains_with_the_gpu_defaults() -> None:
    result = ca.train("lenet5", "mnist5k", device="cuda", epochs=4, quiet=True)
    assert result.history[-1]["val_top1"] > 0.95
    assert next(result.model.parameters()).is_cuda


def test_batched_gpu_decoding_matches_the_cpu_path(tmp_path: Path) -> None:
    bundle = load_data(jpeg_folder(tmp_path / "f"), ca.build("INPUT(24x24x3) -> CONV3-4 -> RELU -> POOL2 -> FC3"),
                       cache=False, val_fraction=0.25)  # fmt: skip
    pil = bundle.loader("val", batch_size=8, device="cuda")
    gpu = bundle.loader("val", batch_size=8, device="cuda", decode="gpu")
    for a, b in zip(pil, gpu, strict=True):
        assert b.x.is_cuda and torch.equal(a.index, b.index)
        # nvJPEG's IDCT and chroma upsampling differ from libjpeg's by a level or two (x is normalised: / std)
        assert (a.x - b.x).abs().mean() < 0.1


def test_a_streamed_run_with_gpu_decoding(tmp_path: Path) -> None:
    root = jpeg_folder(tmp_path / "f", per_class=12)
    result = ca.train("INPUT(24x24x3) -> CONV3-8 -> BN -> RELU -> POOL2 -> FC3", root, device="cuda", decode="gpu",
                      cache=False, epochs=2, batch_size=8, quiet=True)  # fmt: skip
    assert len(result.history) == 2 and all(row["val_loss"] == row["val_loss"] for row in result.history)


def test_a_compiled_cuda_graphed_run_trains_its_short_batches_eagerly_and_resumes(tmp_path: Path) -> None:
    """reduce-overhead (CUDA graphs) with an epoch remainder (digits: 1,438 = 22 x 64 + 30), then a resume of
    the channels_last run, whose fused SGD needs its momentum in the weights' layout."""
    batches: list[int] = []
    out = tmp_path / "run"

    def stop_in_epoch_2(epoch: int, index: torch.Tensor) -> None:
        batches.append(len(index))
        if epoch == 1 and len(batches) == 30:
            raise KeyboardInterrupt

    options = {"device": "cuda", "compile": True, "compile_mode": "reduce-overhead", "batch_size": 64, "epochs": 2}
    with pytest.raises(KeyboardInterrupt):
        ca.train("resnet20", "digits", out=out, on_batch=stop_in_epoch_2, quiet=True, **options)
    assert batches[:23] == [64] * 22 + [30]
    resumed = ca.train(resume=out, quiet=True)
    assert [row["epoch"] for row in resumed.history] == [1, 2] and resumed.history[-1]["val_loss"] < 10


def test_optimize_measures_its_candidates_on_the_gpu() -> None:
    model = ca.create_model("resnet18").eval()
    chosen = ca.optimize(model, device="cuda", batch_size=8, dtype="fp32")  # the layouts are timed
    assert set(chosen.timed) == {"fp32 NCHW", "fp32 channels_last"}
    with torch.no_grad():
        x = torch.randn(8, 3, 224, 224)
        expected, got = model(x), chosen(x).cpu()
    assert (got - expected).abs().max() <= 1e-2 * expected.abs().max()  # cuDNN's TF32 convolutions, at most
