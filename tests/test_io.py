"""The atomic writer: whole files or none, the usual permissions, clear errors."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from convarch.errors import ConfigError, WeightsError
from convarch.io import UMASK, atomic_write, make_directory, write_failure, write_text


def test_written_files_get_the_umask_mode_not_mkstemps_owner_only(tmp_path: Path) -> None:
    path = write_text(tmp_path / "report.md", "hello")
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~UMASK != 0o600


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = write_text(tmp_path / "metrics.csv", "old")

    def broken(temp: str) -> None:
        Path(temp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(ConfigError, match=r"could not write .*metrics.csv: the disk is full; the previous metrics.csv "
                       r"is intact\. Free some space or choose another location\."):  # fmt: skip
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only"),
        (OSError(errno.EFBIG, "File too large"), "the file is larger than the file system or a limit allows"),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
    ],
)
def test_io_failures_name_the_reason(tmp_path: Path, failure: OSError, reason: str) -> None:
    def broken(temp: str) -> None:
        raise failure

    with pytest.raises(WeightsError, match=f"could not write .*x.bin: {reason}; no x.bin was written"):
        atomic_write(tmp_path / "x.bin", broken, error=WeightsError)
    assert list(tmp_path.iterdir()) == []


def test_library_wrapped_io_failures_are_recognised(tmp_path: Path) -> None:
    safetensor_error = type("SafetensorError", (Exception,), {})
    new_form = "Error while serializing: I/O error: No space left on device (os error 28)"  # safetensors 0.8
    old_form = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space" })'
    for text in (new_form, old_form):
        assert write_failure(safetensor_error(text)) == "the disk is full"

    def pillow_cleanup(temp: str) -> None:  # Pillow can fail on cleanup while the OSError is being handled
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise AttributeError("'PngStream' object has no attribute '_idat'")  # noqa: B904 (as Pillow does)

    def handled(temp: str) -> None:  # an OSError the writer dealt with (``from None``) is not the failure
        try:
            raise OSError(errno.ECONNRESET, "Connection reset by peer")
        except OSError:
            raise ValueError("bad reply") from None

    assert write_failure(AttributeError("x")) is None
    with pytest.raises(ConfigError, match="the disk is full"):
        atomic_write(tmp_path / "chart.png", pillow_cleanup)
    with pytest.raises(ValueError, match="bad reply"):
        atomic_write(tmp_path / "reply.bin", handled)


def test_a_bug_in_a_writer_is_not_disguised_as_a_write_error(tmp_path: Path) -> None:
    def buggy(temp: str) -> None:
        raise TypeError("unsupported operand")

    with pytest.raises(TypeError, match="unsupported operand"):
        atomic_write(tmp_path / "x.txt", buggy)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # as root a chmod would not stop the test's own writes
    with pytest.raises(ConfigError, match="cannot write .*x.txt: permission denied; choose a location you can write"):
        write_text(tmp_path / "x.txt", "x")


def test_the_advice_fits_the_reason_a_write_failed() -> None:
    """Writing into /proc said "free some space": space only helps when space ran out."""
    with pytest.raises(ConfigError) as caught:
        write_text("/proc/x.json", "{}")
    assert "does not take new files" in str(caught.value) and "space" not in str(caught.value)


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
    with pytest.raises(ca.WeightsError, match="could not write .*m.safetensors: the disk is full; no m.safetensors"):
        ca.save(ca.build("INPUT(8x8x1) -> FC2"), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX")
def test_a_real_file_size_limit_during_a_safetensors_save(tmp_path: Path) -> None:
    import resource

    import convarch as ca

    model = ca.create_model("lenet5")  # about 250 KB of weights
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, hard))  # Python ignores SIGXFSZ, so the write fails
    try:
        with pytest.raises(WeightsError, match="m.safetensors: the file is larger than the file system or a limit"):
            ca.save(model, tmp_path / "m.safetensors")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(tmp_path.iterdir()) == []


def test_an_empty_path_is_refused_as_empty_not_as_the_current_directory() -> None:
    with pytest.raises(ConfigError, match="cannot write to an empty path: give a file name"):
        write_text("", "x")
    with pytest.raises(WeightsError, match="empty path"):
        atomic_write(" ", lambda temp: None, error=WeightsError)


def test_a_file_used_as_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "figure.png").write_text("a file")
    for target in (tmp_path / "figure.png" / "x.svg", tmp_path / "figure.png" / "a" / "b" / "x.svg"):
        with pytest.raises(ConfigError, match=r"figure\.png is a file, not a directory; choose another location"):
            write_text(target, "x")
    assert (tmp_path / "figure.png").read_text() == "a file"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux's")
@pytest.mark.parametrize("directory", ["/dev", "/proc", "/sys", "/proc/self"])
def test_the_kernels_directories_are_refused_before_anything_is_written(directory: str) -> None:
    """As root, /dev takes a new regular file without complaint: refused by name, nothing created."""
    target = Path(directory) / "convarch-io-test.txt"
    with pytest.raises(ConfigError, match=f"cannot write {target}: {directory[:4]}.* does not take new files"):
        write_text(target, "x")
    assert not target.exists()


def test_a_link_into_dev_is_refused_but_dev_shm_is_an_ordinary_directory(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/dev")
    with pytest.raises(ConfigError, match="/dev holds devices"):
        write_text(tmp_path / "link" / "x.txt", "x")
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        target = Path("/dev/shm") / f"convarch-io-test-{os.getpid()}.txt"
        try:
            assert write_text(target, "x").read_text() == "x"
        finally:
            target.unlink(missing_ok=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux's")
def test_a_directory_is_refused_for_the_same_reasons_as_a_file(tmp_path: Path) -> None:
    """mkdir in /proc fails with "No such file or directory", which named the wrong cause."""
    with pytest.raises(WeightsError, match=r"cannot create the run directory /proc/run: /proc is the kernel's "
                       r"process table and does not take new files; choose another"):  # fmt: skip
        make_directory("/proc/run", what="the run directory", error=WeightsError, advice="choose another")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"file is a file, not a directory"):
        make_directory(tmp_path / "file" / "run")
    assert make_directory(tmp_path / "a" / "b").is_dir()


def test_a_run_checkpoint_failure_advises_what_fits_its_reason_then_resume(tmp_path: Path) -> None:
    """A checkpoint that failed for lack of permission said "free some space"; the remedy now fits the
    reason, and the run's next step (resume) follows it."""
    from convarch.train.checkpoint import CheckpointWriteError, guarded

    def refused(temp: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    def full(temp: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CheckpointWriteError, match=r"permission denied; .*Choose a location you can write to, then "
                       r"continue the run \(resume\)") as refusal:  # fmt: skip
        guarded(tmp_path / "last.safetensors", refused)
    assert "space" not in str(refusal.value)
    with pytest.raises(CheckpointWriteError, match=r"Free some space or choose another location, then continue"):
        guarded(tmp_path / "last.safetensors", full)
