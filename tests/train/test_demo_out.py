"""The demo's output directory: it replaces its own runs and never deletes anything else."""

from __future__ import annotations

from pathlib import Path

import pytest

import convarch as ca
from convarch.train.demo import MARKER, prepare_out


def fake_run(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text("{}")
    return directory


def test_a_directory_with_other_files_is_refused_and_kept(tmp_path: Path) -> None:
    users_run = fake_run(tmp_path / "runs" / "lenet5-mnist5k")  # `convarch train`'s default out
    (users_run / "notes.txt").write_text("mine")
    with pytest.raises(ca.ConfigError, match="already holds files the demo did not write"):
        prepare_out(tmp_path / "runs", seeds=1)
    assert (users_run / "notes.txt").read_text() == "mine" and (users_run / "config.json").is_file()


def test_a_file_is_not_an_output_directory(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ca.ConfigError, match="is a file; the demo needs a directory"):
        prepare_out(tmp_path / "model.safetensors", seeds=1)
    assert (tmp_path / "model.safetensors").read_bytes() == b"x"


def test_an_earlier_demo_s_runs_are_replaced_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    prepare_out(out, seeds=1)
    assert (out / MARKER).is_file()
    old_run = fake_run(out / "finetune-seed0")
    (out / "keep.txt").write_text("kept")
    prepare_out(out, seeds=1)
    assert not old_run.exists() and (out / "keep.txt").read_text() == "kept"


def test_the_report_of_an_earlier_version_marks_a_demo_directory(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    old_run = fake_run(out / "scratch-seed2")
    (out / "README.md").write_text("# convarch demo: LeNet-5, and don't be a hero\n")
    prepare_out(out, seeds=3)
    assert not old_run.exists()
