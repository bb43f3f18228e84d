"""``convarch export`` to ONNX and pt2 from a zoo name, a pattern or a checkpoint; mistakes are one clear line."""

from __future__ import annotations

from pathlib import Path

import torch

import convarch as ca
from convarch.cli import main
from convarch.deploy import read_metadata
from convarch.deploy.runtime import OnnxRuntimeModel, session

PATTERN = "INPUT(28x28x1) -> [CONV3-8 -> BN -> RELU -> POOL2]*2 -> FC10"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_pattern_trained_checkpoint_exports_to_onnx_with_new_classes(capsys, tmp_path: Path) -> None:
    trained = ca.save(ca.build(PATTERN), tmp_path / "trained.safetensors", class_names=list("abcdefghij"))
    out = tmp_path / "five.onnx"
    code, text, err = run(capsys, "export", PATTERN, "-w", str(trained), "--num-classes", "5", "-o", str(out))
    assert code == 0 and "checked in ONNX Runtime: max abs diff" in text and "top-1 agreement 100.00%" in text, err
    runtime = OnnxRuntimeModel(session(str(out)), facts={})
    assert runtime(torch.randn(3, 1, 28, 28)).shape == (3, 5) and read_metadata(out)["num_classes"] == 5


def test_a_checkpoint_exports_as_saved_with_its_class_names(capsys, tmp_path: Path) -> None:
    net = ca.build(PATTERN)
    trained = ca.save(net, tmp_path / "trained.safetensors", class_names=list("abcdefghij"))
    out = tmp_path / "same.onnx"
    code, text, _ = run(capsys, "export", str(trained), "-o", str(out))
    assert code == 0 and "keeping its 10 classes" in text.replace("\n", " ")
    assert read_metadata(out)["class_names"] == list("abcdefghij")
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(OnnxRuntimeModel(session(str(out)), facts={})(x), net.eval()(x), rtol=0, atol=1e-5)
    code, text, _ = run(capsys, "export", str(trained), "-o", str(tmp_path / "p.pt2"))
    assert code == 0 and "checked after torch.export.load" in text and (tmp_path / "p.pt2").is_file()


def test_export_mistakes_are_one_line_and_leave_no_file(capsys, tmp_path: Path) -> None:
    trained = ca.save(ca.build(PATTERN), tmp_path / "trained.safetensors")
    leave_weights_out = "leave weights out (on the command line: --weights)"
    cases = [
        (["lenet5", "-o", str(tmp_path / "m.tflite")], "unsupported suffix '.tflite'"),
        (["lenet5", "-o", str(tmp_path / "m.onnx"), "--format", "pt2"], "contradicts the suffix"),
        (["lenet5", "-o", str(tmp_path / "no" / "m.onnx")], "does not exist; create it first"),
        ([str(trained), "-w", str(trained), "-o", str(tmp_path / "m.onnx")], leave_weights_out),
        ([str(tmp_path / "gone.safetensors"), "-o", str(tmp_path / "m.onnx")], "no checkpoint at"),
        (["resnet5", "-o", str(tmp_path / "m.onnx")], "resnet"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "export", *argv)
        assert code != 0 and message in err and "Traceback" not in out + err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trained.safetensors"]
