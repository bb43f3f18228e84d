"""The atomic writer: whole files or none, the usual permissions, clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from convarch.errors import ConfigError, WeightsError
from convarch.io import UMASK, atomic_write, write_text


def test_written_files_get_the_umask_mode_not_mkstemps_owner_only(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.md", "hello")
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~UMASK != 0o600


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = write_text(tmp_path / "metrics.csv", "old")

    def broken(temp: str) -> None:
        Path(temp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_a_missing_directory_raises_the_callers_error_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        write_text(tmp_path / "missing" / "x.txt", "x")
    with pytest.raises(WeightsError):
        atomic_write(tmp_path / "missing" / "x.bin", lambda temp: None, error=WeightsError)


def test_a_directory_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is a directory; give a file name"):
        write_text(tmp_path, "x")


def test_save_turns_a_write_failure_into_a_weights_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    import convarch as ca

    def full_disk(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    with pytest.raises(ca.WeightsError, match="could not write .*No space left on device"):
        ca.save(ca.build("INPUT(8x8x1) -> FC2"), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []
