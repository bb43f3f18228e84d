"""convarch train / finetune / evaluate / predict / demo from the command line; mistakes never show a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.train.helpers import TINY, write_image

import convarch as ca
from convarch.cli import main
from convarch.data import load_data

FAST = ["--epochs", "1", "--threads", "1", "--quiet"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_evaluate_predict(capsys, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, text, _ = run(capsys, "train", TINY, "--data", "digits", "--out", str(out), "--augment", "none", *FAST)
    assert code == 0 and "held-out top-1" in text and "last.safetensors" in text
    code, text, _ = run(capsys, "evaluate", str(out / "best.safetensors"), "--data", "digits")
    assert code == 0 and "top-1" in text and "per-class accuracy" in text
    assert (out / "confusion-best-digits.png").is_file()
    (out / "confusion-best-digits.png").unlink()
    code, text, _ = run(capsys, "evaluate", str(out), "--data", "digits")  # a run: its best checkpoint, named
    assert code == 0 and str(out / "best.safetensors") in text.replace("\n", "")
    assert (out / "confusion-best-digits.png").is_file()  # in the run, not the working directory
    image = write_image(tmp_path / "x.png", size=(28, 28))
    code, text, _ = run(capsys, "predict", str(out / "best.safetensors"), str(image), "--topk", "2")
    assert code == 0 and text.startswith(str(image)) and text.count("%") == 2
    code, _, err = run(capsys, "predict", str(out / "best.safetensors"), str(tmp_path / "missing.png"))
    assert code == 1 and "missing.png: cannot read it (no such file)" in err
    code, _, err = run(capsys, "predict", str(out / "best.safetensors"), str(tmp_path))
    assert code == 1 and f"{tmp_path}: cannot read it (it is a directory" in err


def test_predict_reports_a_decompression_bomb_and_goes_on(capsys, tmp_path: Path) -> None:
    from PIL import Image

    checkpoint = tmp_path / "m.safetensors"
    model = ca.build(TINY)
    model.pretrained_cfg.update(load_data("digits", model).preprocessing.to_cfg())
    ca.save(model, checkpoint)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)  # 400 M pixels in 50 KB: its header is all Pillow reads
    image = write_image(tmp_path / "x.png", size=(28, 28))
    code, text, err = run(capsys, "predict", str(checkpoint), str(bomb), str(image))
    assert code == 1 and "bomb.png: cannot read it (too large to decode safely: 400,000,000 pixels" in err
    assert text.startswith(str(image)) and "Traceback" not in err


def test_resume_and_finetune_from_the_command_line(capsys, tmp_path: Path) -> None:
    out = tmp_path / "pre"
    assert run(capsys, "train", TINY, "--data", "digits", "--out", str(out), *FAST)[0] == 0
    code, _, err = run(capsys, "train", "--resume", str(out), "--epochs", "3")
    assert code == 1 and "differ: epochs (3 vs 1)" in err and "Traceback" not in err
    code, text, _ = run(capsys, "finetune", "--weights", str(out / "last.safetensors"), "--data", "digits",
                        "--labels-per-class", "5", "--freeze-epochs", "1", "--epochs", "2", "--quiet",
                        "--out", str(tmp_path / "ft"))  # fmt: skip
    assert code == 0 and "held-out top-1" in text and (tmp_path / "ft" / "best.safetensors").is_file()


def test_evaluate_shows_its_results_even_when_the_chart_cannot_be_written(capsys, tmp_path: Path, monkeypatch) -> None:
    import errno
    import os
    import tempfile

    out = tmp_path / "run"
    assert run(capsys, "train", TINY, "--data", "digits", "--out", str(out), *FAST)[0] == 0
    checkpoint = str(out / "best.safetensors")
    code, text, _ = run(capsys, "evaluate", checkpoint, "--data", "digits", "--json")
    assert code == 0 and json.loads(text)["confusion_chart"] is None and json.loads(text)["skipped"] == []
    assert not list(out.glob("confusion-*"))  # JSON is for scripts: no file unless asked for

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # a read-only checkpoint directory
    code, text, err = run(capsys, "evaluate", checkpoint, "--data", "digits")
    assert code == 1 and "top-1" in text and "per-class accuracy" in text  # shown before the chart failed
    assert "permission denied" in err and "--confusion PATH" in err and "Traceback" not in err
    chart = ["--confusion", str(out / "c.png")]
    code, text, err = run(capsys, "evaluate", checkpoint, "--data", "digits", "--json", *chart)
    assert code == 1 and json.loads(text)["top1"] > 0 and "permission denied" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "lenet5", "--data", "cifar10"], "unknown dataset 'cifar10'"),
        (["train", "lenet5", "--data", "digits", "--optimizer", "adam"], "unknown optimizer 'adam'"),
        (["train", "lenet5", "--data", "digits", "--augment", "cutout"], "unknown augmentation cutout"),
        (["evaluate", "nope.safetensors", "--data", "digits"], "does not exist"),
        (["evaluate", "nope.safetensors", "--data", "digits", "--confusion", "c.jpg"], "must end in .png"),
        (["finetune", "--weights", "missing.safetensors", "--data", "digits"], "missing.safetensors: the file does"),
    ],
)
def test_mistakes_are_one_clear_message(capsys, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code != 0 and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--val-fraction", "0"], "--val-fraction must be between 0 and 1 (exclusive), got 0.0"),
        (["--val-fraction", "1"], "--val-fraction must be between 0 and 1 (exclusive), got 1.0"),
        (["--threads", "100000"], "--threads must be from 1 to"),  # OpenMP died on it with no message
        (["--threads", "0"], "--threads must be from 1 to"),
        (["--seed", "99999999999999999999"], "--seed must be from 0 to 9,223,372,036,854,775,807"),  # overflowed
        (["--seed", "-5"], "--seed must be from 0 to"),
        (["--split-seed", "99999999999999999999"], "--split-seed must be from 0 to"),
    ],
)
def test_out_of_range_options_are_refused_before_the_run_directory_is_made(
    capsys, tmp_path: Path, option: list[str], message: str
) -> None:
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "lenet5", "--data", "digits", "--epochs", "1", "--out", str(out), *option)
    assert code == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_demo_quick_writes_the_report_and_charts(capsys, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, text, _ = run(capsys, "demo", "--out", str(out), "--seeds", "1", "--quick")
    assert code == 0 and "fine-tuned" in text and "report:" in text
    report = (out / "README.md").read_text()
    assert "## 1. LeNet-5 on MNIST-5k" in report and "| 0 |" in report and "charts/scratch-vs-finetuned.png" in report
    for chart in ("mnist5k-curves", "digits-curves", "scratch-vs-finetuned", "finetuned-confusion"):
        assert (out / "charts" / f"{chart}.png").stat().st_size > 1000
    code, _, _ = run(capsys, "demo", "--out", str(out), "--seeds", "1", "--quick", "--quiet")  # reruns cleanly
    assert code == 0


def test_training_at_a_size_that_cannot_fit_is_one_clear_message(capsys, monkeypatch) -> None:
    import sys

    monkeypatch.setattr(sys.modules["convarch.analysis.measure"], "available_memory", lambda device: 8 * 2**30)
    code, _, err = run(capsys, "train", "INPUT(2048x2048x3) -> CONV3-8(s=4) -> GAP -> FC", "--data", "digits")
    assert code == 1 and "Traceback" not in err
    assert (
        "training at batch 64 on 2048x2048x3 inputs needs about 7.0 GiB, over the 6.4 GiB allowed (80% of the 8.0"
        in err
    )


def test_ctrl_c_during_a_run_says_how_to_continue_it(tmp_path, capsys, monkeypatch) -> None:
    import convarch.cli.train_commands as commands

    def interrupt_in_epoch_2(epoch: int, index) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    real_train = commands.train
    monkeypatch.setattr(commands, "train", lambda *a, **kw: real_train(*a, on_batch=interrupt_in_epoch_2, **kw))
    out = tmp_path / "run"
    code = main(["train", TINY, "--data", "digits", "--epochs", "3", "--labels-per-class", "5", "--out", str(out),
                 "--threads", "1", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 130 and f"interrupted; continue the run with: convarch train --resume {out}" in err
