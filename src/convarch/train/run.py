"""``ca.train``: build the model for the data, set up the run directory (or resume it), and train.

A run directory records what was asked for (``config.json``), so ``train(resume=DIR)`` and
``convarch train --resume DIR`` need nothing else, and refuse options that would change the run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from convarch.api import build, create_model, is_model_name, resolve
from convarch.data.builtin import BUILTIN, MNIST_SIZE
from convarch.data.datasets import DataBundle, load_data
from convarch.errors import ConfigError, advising
from convarch.nn.model import ConvNet
from convarch.spec.bind import BIND_OPTIONS, bind, variables_of
from convarch.spec.edit import classifier_index, num_classes_of
from convarch.spec.nodes import NetSpec
from convarch.spec.serialize import spec_from_json, spec_to_json
from convarch.train import checkpoint as ckpt
from convarch.train.config import TrainConfig, for_device
from convarch.train.distributed import Distributed, device_kind, setup
from convarch.train.progress import RunDisplay
from convarch.train.threads import intra_op_threads
from convarch.train.trainer import BatchHook, Trainer, TrainResult, preflight
from convarch.weights.checkpoint import check_state_matches_spec, model_from_header

ModelSource = str | NetSpec | ConvNet


def train(
    model: ModelSource | None = None,
    data: str | Path | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    console: Console | None = None,
    on_batch: BatchHook | None = None,
    **options: Any,
) -> TrainResult:
    """Train a zoo model, pattern network, spec or built model on a dataset (``mnist5k``, ``digits``, a folder).

    ``options`` are ``TrainConfig`` fields (``epochs``, ``batch_size``, ``lr``, ``optimizer``, ``schedule``,
    ``augment``, ``ema``, ``seed``, ...), and for a template pattern its variables and binding options as
    ``build`` takes them (``N=2``, ``base_width=16``); a bare ``INPUT`` takes the size of a built-in dataset.
    With ``out`` every epoch writes ``last``/``best`` checkpoints, the resume state and the metrics there;
    ``resume=DIR`` continues such a run exactly.
    """
    if resume is not None:
        model, data, options, out = _resumed_request(Path(resume), model, data, options, out)
    if model is None or data is None:
        raise ConfigError("train needs a model (zoo name, pattern text or model) and data (a dataset name or folder)")
    stated = stated_classes(model)  # before binding, which would fill a bare FC with a default
    model, options = bound_source(model, options, data_input_size(data))
    request = TrainConfig.from_dict(options)  # as asked: config.json keeps it, so a resume re-derives the rest
    dist = setup(request.device)
    try:
        config = for_device(request, dist.device)
        out_dir = Path(out) if out is not None else None
        state = ckpt.resume_state(out_dir, writer=dist.is_main) if resume is not None else None  # type: ignore[arg-type]
        finished = None
        if state is not None:
            finished = ckpt.finished_notice(out_dir, state[1], config.epochs, str(data))  # type: ignore[arg-type]
            net = model_from_header(state[2], state[0], out_dir / ckpt.STATE)  # type: ignore[operator]
            preflight(net, config, dist.device)
            bundle = _load(data, net, config)
        else:
            shape = probe(model)
            preflight(shape, config, dist.device)  # before the data is loaded
            bundle = _load(data, shape, config)
            net = prepared_model(model, bundle, config.seed)
        display = RunDisplay(console, enabled=not quiet and dist.is_main, notices=dist.is_main)
        if state is None and (note := head_note(stated, bundle, data)):
            display.notice(note)
        if out_dir is not None and state is None:
            start_run(out_dir, dist, {"task": "train", "model": describe_source(model), "data": str(data),
                                      "options": request.to_dict()}, bundle)  # fmt: skip
        trainer = Trainer(net, bundle, config, dist, out=out_dir, display=display, on_batch=on_batch,
                          extra={"data": json.dumps(data_extra(bundle))})  # fmt: skip
        if state is not None:
            trainer.load_parts(state[1])
            if finished:
                display.notice(finished)
            else:
                display.line(f"resuming {out_dir} at epoch {trainer.start_epoch + 1}/{config.epochs}")
        with intra_op_threads(config.threads, net, dist.device):
            result = trainer.fit()
        finish_run(out_dir, dist, bundle, result, display)
        return result
    finally:
        dist.close()


# ---- the model ------------------------------------------------------------------------------------
def bound_source(
    source: ModelSource, options: dict[str, Any], input_size: tuple[int, int, int] | None = None
) -> tuple[ModelSource, dict[str, Any]]:
    """Pattern text or a spec with its template bound as ``build`` binds it, from the keywords among ``options``
    that are its variables or binding options (the rest are returned, for ``TrainConfig``); ``input_size`` fills
    a bare ``INPUT``. Anything else, or a pattern with nothing to bind, comes back as it is."""
    if isinstance(source, ConvNet) or (isinstance(source, str) and (is_model_name(source) or _is_json(source))):
        return source, options
    spec = resolve(source)
    variables = variables_of(spec)
    bindings = {k: v for k, v in options.items() if k.upper() in variables or k in BIND_OPTIONS}
    rest = {k: v for k, v in options.items() if k not in bindings}
    size = input_size if spec.input is None else None
    if not bindings and size is None and not variables:
        return source, rest
    return bind(spec, input_size=size, **bindings), rest  # unbound variables: bind names them and --set


def stated_classes(source: ModelSource) -> int | None:
    """The class count a model or pattern states itself (0: it has no classifier); None where it leaves it
    open (a bare FC) or where fitting it to the data goes without saying (a zoo architecture)."""
    if isinstance(source, ConvNet):
        return source.num_classes
    if isinstance(source, str) and (is_model_name(source) or _is_json(source)):
        return None
    spec = resolve(source)
    try:
        return num_classes_of(spec)
    except ConfigError:  # a repeat still counted by a variable: the classifier, if any, ends the top level
        items = list(spec.layers.items)
        index = classifier_index(items)
        return 0 if index is None else items[index].out  # type: ignore[attr-defined]


def head_note(stated: int | None, bundle: DataBundle, data: str | Path) -> str:
    """What fitting the classifier to the data did that the user did not ask for, or ""."""
    n = bundle.num_classes
    if stated == 0:
        return f"note: the network has no classifier, so a final FC{n} was appended for the {n} classes of {data}"
    if stated is not None and stated != n:
        return (f"note: the network's {stated}-class classifier was replaced by a new {n}-class one (fresh weights) "
                f"for the {n} classes of {data}")  # fmt: skip
    return ""


def data_input_size(data: str | Path) -> tuple[int, int, int] | None:
    """The natural (C, H, W) of a built-in dataset (28x28 grey); None for a folder, whose images vary."""
    return (1, MNIST_SIZE, MNIST_SIZE) if str(data).lower() in BUILTIN else None


def _is_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _build(source: ModelSource, num_classes: int | None) -> ConvNet:
    if isinstance(source, ConvNet):
        return source
    if isinstance(source, str) and is_model_name(source):
        return create_model(source, num_classes=num_classes)
    if isinstance(source, str) and _is_json(source):
        return build(spec_from_json(source), num_classes=num_classes)
    return build(source, num_classes=num_classes)


def probe(source: ModelSource) -> ConvNet:
    """The model on the meta device: its input size and preprocessing, for fitting the data, at no cost.

    A built model whose modules no longer match its spec is refused here, before any work: its checkpoints
    are rebuilt from the spec, so the first one written would be refused at the end of an epoch."""
    if isinstance(source, ConvNet):
        check_state_matches_spec(source, source.state_dict())
        return source
    with torch.device("meta"):
        return _build(source, None)


def prepared_model(source: ModelSource, bundle: DataBundle, seed: int) -> ConvNet:
    """The model with a classifier for the data's classes and the run's preprocessing recorded in it."""
    torch.manual_seed(seed)  # the initial weights are part of the run: same seed, same start
    model = _build(source, bundle.num_classes)
    if model.num_classes != bundle.num_classes:
        model.reset_classifier(bundle.num_classes)
    model.pretrained_cfg.update(bundle.preprocessing.to_cfg())
    model.class_names = list(bundle.class_names)
    return model


def describe_source(source: ModelSource) -> str:
    """How config.json names the model: the name or pattern as given, or the spec as JSON."""
    if isinstance(source, ConvNet):
        return spec_to_json(source.spec)
    if isinstance(source, NetSpec):
        return spec_to_json(source)
    return source


# ---- the data and the run directory -----------------------------------------------------------------
def _load(data: str | Path, model: ConvNet, config: TrainConfig) -> DataBundle:
    return load_data(data, model, labels_per_class=config.labels_per_class, val_fraction=config.val_fraction,
                     split_seed=config.split_seed, cache=config.cache, num_workers=config.num_workers)  # fmt: skip


def data_extra(bundle: DataBundle) -> dict[str, Any]:
    """What a checkpoint says about its data, so ``evaluate`` can find the same held-out images."""
    keys = ("source", "split", "split_seed", "labels_per_class")
    return {k: bundle.record.get(k) for k in keys}


def start_run(out: Path, dist: Distributed, request: dict[str, Any], bundle: DataBundle) -> None:
    if not dist.is_main:
        return
    if ckpt.has_state(out):
        message = f"{out} already holds a training run; continue it with resume={str(out)!r}, or choose another out"
        raise advising(ConfigError(message), "resume", "out")
    ckpt.check_writable(out)
    ckpt.remove_stale_temporaries(out)
    ckpt.write_text(out / ckpt.CONFIG, json.dumps(request, indent=2))
    ckpt.write_text(out / ckpt.DATA_JSON, json.dumps({**bundle.record, "skipped": bundle.skipped}, indent=1))


def finish_run(out: Path | None, dist: Distributed, bundle: DataBundle, result: TrainResult,
               display: RunDisplay) -> None:  # fmt: skip
    skipped = sorted(set(bundle.skipped) | set(result.skipped))
    result.skipped = skipped
    if skipped:
        where = f" (listed in {out / ckpt.DATA_JSON})" if out is not None else ""
        display.notice(f"skipped {len(skipped)} unreadable image(s){where}:")
        for path, reason in skipped[:10]:
            display.notice(f"  {path}: {reason}")
        if len(skipped) > 10:
            display.notice(f"  ... and {len(skipped) - 10} more")
    if out is not None and dist.is_main:
        record = dict(bundle.record)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # a resumed run: as it began
            # (the resumed model carries the statistics in its weights, and would be described as "its own")
            record["preprocessing"] = json.loads((out / ckpt.DATA_JSON).read_text())["preprocessing"]
        ckpt.write_text(out / ckpt.DATA_JSON, json.dumps({**record, "skipped": skipped}, indent=1))
        ckpt.remove_stale_temporaries(out)


def _resumed_request(out: Path, model: Any, data: Any, options: dict[str, Any],
                     given_out: Any) -> tuple[Any, Any, dict[str, Any], Path]:  # fmt: skip
    saved = ckpt.read_config(out)
    if saved.get("task", "train") != "train":
        raise ConfigError(f"{out} is a {saved['task']} run; resume it with {saved['task']}(resume=...)")
    named = {"model": (describe_source(model) if model is not None else None, saved["model"]),
             "data": (str(data) if data is not None else None, saved["data"])}  # fmt: skip
    merged = resumed_options(out, saved["options"], options, named, given_out)
    return saved["model"], saved["data"], merged, out


# Where and how fast a run computes, not what: a resumed run may take new values (a pre-empted job resumed
# on a machine with another number of CPUs).
RUN_NEUTRAL = ("num_workers", "threads")


def resumed_options(out: Path, saved: dict[str, Any], options: dict[str, Any], named: dict[str, tuple[Any, Any]],
                    given_out: Any = None) -> dict[str, Any]:  # fmt: skip
    """The saved options with the given run-neutral ones applied; any other given value that differs from
    the saved one (``named``: given and saved values of the call's own arguments) is refused, all at once."""
    merged = dict(saved)
    conflicts = [f"{name} ({given!r} vs {was!r})" for name, (given, was) in named.items()
                 if given is not None and given != was]  # fmt: skip
    for key, value in options.items():
        if key in RUN_NEUTRAL:
            merged[key] = value
        elif key == "device" and device_kind(value) == device_kind(saved.get(key) or "auto"):
            continue  # "auto" that resolves to the same device
        elif saved.get(key) != value:
            was = saved.get(key)
            conflicts.append(f"{key} ({value!r} vs {'the default' if was is None else repr(was)})")
    if given_out is not None and Path(given_out) != out:
        conflicts.append(f"out ({given_out} vs {out})")
    if conflicts:
        message = (f"resume continues {out} exactly as it was configured; these differ: {'; '.join(conflicts)}. "
                   "Leave them out to resume (only the number of workers and threads may change), or start a new run "
                   "in another directory with them.")  # fmt: skip
        raise advising(ConfigError(message), "resume")
    return merged
