"""A run's directory: the model checkpoints, the resume state, the metrics, all written atomically.

    config.json         what was asked for (model, data, options), so ``--resume DIR`` needs nothing else
    last.safetensors    the model after the latest epoch  (``ca.load`` reads it: the header describes it)
    best.safetensors    the model of the best held-out top-1 so far
    state.safetensors   everything a resume needs in one file: the model, optimizer, schedule, scaler, EMA,
                        every rank's RNG streams, the epoch and the history (tensors + a JSON structure)
    metrics.csv/.json   one row per epoch
    data.json           the dataset's split, and any image skipped as unreadable

Each file is written to a temporary name and moved into place, so a crash, a kill or a full disk leaves the
previous version whole. The resume state is one file on purpose: two files could be caught half-updated.
"""

from __future__ import annotations

import csv
import io
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch

from convarch.errors import ConfigError, WeightsError
from convarch.io import atomic_write, make_directory
from convarch.nn.model import ConvNet
from convarch.train.state import flatten, unflatten
from convarch.weights.checkpoint import header_of, read_header, read_tensors
from convarch.weights.checkpoint import save as save_model

CONFIG, LAST, BEST, STATE = "config.json", "last.safetensors", "best.safetensors", "state.safetensors"
METRICS_CSV, METRICS_JSON, DATA_JSON = "metrics.csv", "metrics.json", "data.json"
STATE_FORMAT = "convarch.train-state"


# After a failed write, the run goes on from its last good checkpoint once the cause (which io names) is fixed.
RESUME_STEP = "continue the run (resume)"


class CheckpointWriteError(WeightsError):
    """A file of the run could not be written (disk full, read-only, permissions)."""


def guarded(path: Path, write: Any, advice: str | None = None) -> None:
    """``atomic_write`` (temporary file, then os.replace) with errors that say how to go on."""
    atomic_write(path, write, error=CheckpointWriteError, advice=advice, then=RESUME_STEP)


def check_writable(out: Path, advice: str | None = None) -> None:
    """Fail before training starts, not after the first epoch, when the run directory cannot be written."""
    make_directory(out, what="the run directory", error=CheckpointWriteError,
                   advice="choose another location you can write to (out)")  # fmt: skip
    # Nothing is trained yet, so the advice ends at the fix (no "then resume").
    atomic_write(out / ".write-test", lambda temp: Path(temp).write_bytes(b"ok"), error=CheckpointWriteError,
                 advice=advice)  # fmt: skip
    (out / ".write-test").unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    guarded(path, lambda temp: Path(temp).write_text(text))


def write_model(model: ConvNet, path: Path, extra: dict[str, str]) -> None:
    save_model(model, path, class_names=model.class_names, extra=extra, error=CheckpointWriteError,
               then=RESUME_STEP)  # fmt: skip


def write_state(path: Path, model: ConvNet, parts: dict[str, Any], extra: dict[str, str]) -> None:
    """The resume state: the model's tensors under their own names, every other part flattened."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    structure: dict[str, Any] = {}
    for name, part in parts.items():
        part_tensors, structure[name] = flatten(part, f"{name}/")
        tensors.update(part_tensors)
    header = header_of(model, {**extra, "state_format": STATE_FORMAT, "state": json.dumps(structure)})
    guarded(path, lambda temp: save_file(tensors, temp, metadata=header))


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, str]]:
    """``(model_state, parts, header)`` of a resume state written by ``write_state``."""
    header = read_header(path)
    if header.get("state_format") != STATE_FORMAT:
        raise WeightsError(f"{path} is not a convarch training state; resume from the run directory that holds it")
    try:
        structure = json.loads(header.get("state", ""))
    except json.JSONDecodeError as error:
        raise WeightsError(f"{path} is damaged (its header's state field: {error}); the run cannot resume") from None
    tensors = read_tensors(path)
    model_state = {k: v for k, v in tensors.items() if "/" not in k}
    parts = {name: unflatten(part, tensors) for name, part in structure.items()}
    return model_state, parts, header


def write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    write_text(out / METRICS_JSON, json.dumps(history, indent=1))
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(out / METRICS_CSV, buffer.getvalue())


def read_config(out: Path) -> dict[str, Any]:
    path = out / CONFIG
    if not path.is_file():
        raise WeightsError(f"{out} is not a training run (no {CONFIG}); give the run directory (out) of an earlier run")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is damaged ({error}); the run cannot be resumed from it") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} is damaged: it does not hold the run's settings; the run cannot be resumed")
    return config


def has_state(out: Path) -> bool:
    return (out / STATE).is_file()


def resume_state(
    out: Path, *, writer: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, str]] | None:
    """The resume state of the run in ``out``, or None when the run stopped before its first epoch was saved.

    Checkpoints or metrics without the state mean the state was deleted or moved; starting over would
    overwrite them, so that is refused. The process that writes the run (``writer``, rank 0) checks that the
    directory is writable now, not after an epoch of training.
    """
    if not has_state(out):
        left = [name for name in (LAST, BEST, METRICS_JSON, METRICS_CSV) if (out / name).exists()]
        if left:
            keep = f" (to keep its weights, fine-tune from {out / BEST})" if (out / BEST).exists() else ""
            raise WeightsError(
                f"{out} holds {', '.join(left)} but not {STATE}, the resume state, so the run cannot continue "
                f"where it stopped; nothing was changed. Put {STATE} back, or start a new run in another "
                f"directory (out){keep}"
            )
    if writer:
        check_writable(out, advice=f"make {out} writable, or copy the run to a writable place and resume it there")
    return read_state(out / STATE) if has_state(out) else None


def finished_notice(out: Path, parts: dict[str, Any], epochs: int, data: str) -> str | None:
    """What to say when a resumed run has done all its epochs (None while work is left).

    Resuming a finished run does no work and succeeds with the run's result, so that "resume until done"
    is safe to repeat (a preempted job restarted after its last checkpoint, or a kill between the last
    checkpoint and the exit). Saying "resuming at epoch 4/3" would pass for training; this says what happened
    and how to train longer, which is a new run.
    """
    done = int(parts["progress"]["next_epoch"])
    if done < epochs:
        return None
    return (
        f"{out} has finished: all {epochs} of its epochs are done, so there is nothing to resume and nothing was "
        f"trained. Training longer is a new run: the same call with more epochs and another out (from scratch), "
        f"or finetune(weights={str(out / LAST)!r}, data={data!r}) (from these weights, with a new classifier)"
    )


def remove_stale_temporaries(out: Path) -> None:
    """A run killed while writing leaves ``.<name>.<random><suffix>`` files behind; they are never read."""
    for name in (CONFIG, LAST, BEST, STATE, METRICS_CSV, METRICS_JSON, DATA_JSON, ".write-test"):
        for temp in out.glob(f".{name}.*"):
            with suppress(OSError):
                os.unlink(temp)
