"""``ca.finetune``: "don't be a hero" — start from pretrained weights instead of from scratch.

1. Load the pretrained network and give it a new classifier for the data's classes.
2. Frozen phase (``freeze_epochs``): only the new classifier learns. The backbone does not change, so its
   features are computed once and cached, and an epoch costs a few small matrix products (on a CPU this
   is the difference between seconds and minutes).
3. Unfrozen phase: everything learns, with discriminative learning rates: the classifier at ``lr``, and
   each earlier stage ``layer_decay`` times the rate of the stage after it, since early features (edges,
   strokes) transfer best and should move least (Howard & Ruder 2018, ULMFiT §3.2; Yosinski et al. 2014).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from convarch.analysis.measure import check_fits
from convarch.analysis.report import analyze_spec
from convarch.api import create_model, is_model_name
from convarch.data.datasets import DataBundle
from convarch.data.loader import derived_seed
from convarch.errors import ConfigError, WeightsError, advising
from convarch.nn.model import ConvNet
from convarch.train import checkpoint as ckpt
from convarch.train.config import TrainConfig, for_device
from convarch.train.distributed import Distributed, setup
from convarch.train.evaluate import EvalStats, top5_applies, top5_hits
from convarch.train.memory import eval_batch_size, inference_bytes
from convarch.train.progress import RunDisplay, epoch_line
from convarch.train.run import (
    _build,
    _load,
    bound_source,
    data_extra,
    describe_source,
    finish_run,
    resumed_options,
    start_run,
)
from convarch.train.threads import intra_op_threads
from convarch.train.trainer import BatchHook, Trainer, TrainingDiverged, TrainResult, is_new_best, preflight
from convarch.weights.checkpoint import load as load_checkpoint
from convarch.weights.checkpoint import model_from_header
from convarch.weights.pretrained import load_weights

# Defaults for a few hundred labelled images on a CPU; every one can be overridden.
# Chosen on MNIST-5k -> digits at 10 labels per class (benchmarks/bench_training.py): many small steps
# (batch 16) help more than a large rate, and a gentle decay (0.7) beats both 0.3 and 1.0 (one rate).
FINETUNE_DEFAULTS: dict[str, Any] = {"epochs": 40, "batch_size": 16, "optimizer": "sgd", "lr": 0.02,
                                     "schedule": "cosine"}  # fmt: skip
FREEZE_EPOCHS = 10  # of the 40 default epochs: by default a quarter of the epochs given, rounded up
LAYER_DECAY = 0.7
HEAD_LR = 1e-2  # the new classifier alone, on cached features: a linear model, it takes a larger rate


def finetune(
    model: str | ConvNet | None = None,
    data: str | Path | None = None,
    *,
    weights: str | Path | None = None,
    freeze_epochs: int | None = None,
    layer_decay: float | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    console: Console | None = None,
    on_batch: BatchHook | None = None,
    **options: Any,
) -> TrainResult:
    """Fine-tune pretrained weights on ``data``. ``weights`` is a convarch checkpoint (``ca.save``, a run's
    ``best.safetensors``) or a pretrained source the weights registry knows; ``model`` may be left out
    when the checkpoint describes its network. ``freeze_epochs`` defaults to a quarter of the epochs (10 of the
    default 40), rounded up. ``options`` are ``TrainConfig`` fields."""
    if resume is not None:
        saved = ckpt.read_config(Path(resume))
        if saved.get("task") != "finetune":
            raise ConfigError(f"{resume} is not a finetune run; resume it with train(resume={str(resume)!r})")
        given = {"model": describe_source(model) if model is not None else None, "data": data, "weights": weights,
                 "freeze_epochs": freeze_epochs, "layer_decay": layer_decay}  # fmt: skip
        named = {key: (None if value is None else str(value) if key in ("data", "weights") else value, saved[key])
                 for key, value in given.items()}  # fmt: skip
        options = resumed_options(Path(resume), saved["options"], options, named, out)
        model, data, weights, out = saved["model"], saved["data"], saved["weights"], Path(resume)
        freeze_epochs, layer_decay = saved["freeze_epochs"], saved["layer_decay"]
    layer_decay = LAYER_DECAY if layer_decay is None else layer_decay
    if data is None or weights is None:
        raise advising(ConfigError("finetune needs weights (a checkpoint or a pretrained source) and data"), "weights",
                       "data")  # fmt: skip
    if model is not None:  # a template pattern's variables (N=2) are bound; its INPUT is the weights' concern
        model, options = bound_source(model, options)
    config = TrainConfig.from_dict({**FINETUNE_DEFAULTS, **options})
    if freeze_epochs is None:
        freeze_epochs = default_freeze_epochs(config.epochs)
    if not 0 <= freeze_epochs <= config.epochs:
        message = (f"freeze_epochs ({freeze_epochs}) must be from 0 to epochs ({config.epochs}), the frozen epochs "
                   "being part of all the epochs; lower freeze_epochs or raise epochs")  # fmt: skip
        raise advising(ConfigError(message), "freeze_epochs", "epochs")
    if not 0 < layer_decay <= 1:
        raise ConfigError(f"layer decay must be in (0, 1] (1: the same rate everywhere), got {layer_decay}")
    request, dist = config, setup(config.device)
    try:
        config = for_device(request, dist.device)  # config.json keeps the request: a resume re-derives the rest
        out_dir = Path(out) if out is not None else None
        state = ckpt.resume_state(out_dir, writer=dist.is_main) if resume is not None else None  # type: ignore[arg-type]
        display = RunDisplay(console, enabled=not quiet and dist.is_main, notices=dist.is_main)
        if state is not None:
            if finished := ckpt.finished_notice(out_dir, state[1], config.epochs, str(data)):  # type: ignore[arg-type]
                display.notice(finished)
            net = model_from_header(state[2], state[0], out_dir / ckpt.STATE)  # type: ignore[operator]
            preflight(net, config, dist.device)
            bundle = _load(data, net, config)
        else:
            pretrained = load_pretrained(model, weights)
            preflight(pretrained, config, dist.device)  # before the data is loaded
            bundle = _load(data, pretrained, config)
            net = with_new_head(pretrained, bundle, config.seed)
            if out_dir is not None:
                request = {"task": "finetune", "model": describe_source(model) if model is not None else None,
                           "weights": str(weights), "data": str(data), "freeze_epochs": freeze_epochs,
                           "layer_decay": layer_decay, "options": request.to_dict()}  # fmt: skip
                start_run(out_dir, dist, request, bundle)
        extra = {"data": json.dumps(data_extra(bundle)), "finetuned_from": str(weights)}
        parts = state[1] if state is not None else None
        with intra_op_threads(config.threads, net, dist.device):
            return _run_phases(net, bundle, config, dist, parts, freeze_epochs, layer_decay, out_dir, display,
                               on_batch, extra)  # fmt: skip
    finally:
        dist.close()


def default_freeze_epochs(epochs: int) -> int:
    """The frozen phase when none is given: the same share of the run as the defaults' 10 of 40, rounded up."""
    return min(epochs, -(-epochs * FREEZE_EPOCHS // FINETUNE_DEFAULTS["epochs"]))


def _run_phases(net: ConvNet, bundle: DataBundle, config: TrainConfig, dist: Distributed, parts: dict[str, Any] | None,
                freeze_epochs: int, layer_decay: float, out_dir: Path | None, display: RunDisplay,
                on_batch: BatchHook | None, extra: dict[str, str]) -> TrainResult:  # fmt: skip
    """The frozen phase (skipped when resuming after it), then the unfrozen one (resumed where it stopped)."""
    history: list[dict[str, Any]] = parts["history"] if parts is not None else []
    if parts is None:
        history, best_head = train_head(net, bundle, config, dist, freeze_epochs, display)
        if out_dir is not None and dist.is_main:
            save_frozen_phase(out_dir, net, history, dist, extra, best_head)
    if freeze_epochs == config.epochs:
        net.eval()
        result = TrainResult(net, history, out_dir, bundle, rank=dist.rank)
        finish_run(out_dir, dist, bundle, result, display)  # the skipped files are listed after any run
        return result
    trainer = Trainer(net, bundle, config, dist, out=out_dir, display=display, on_batch=on_batch, extra=extra,
                      groups=discriminative_groups(net, config.base_lr, layer_decay, config.decay),
                      first_epoch=freeze_epochs, history=history, phase="finetune")  # fmt: skip
    if parts is not None and parts["progress"]["phase"] == "finetune":
        trainer.load_parts(parts)
    result = trainer.fit()
    finish_run(out_dir, dist, bundle, result, display)
    return result


# ---- the pretrained network -------------------------------------------------------------------------
def load_pretrained(model: str | ConvNet | None, weights: str | Path) -> ConvNet:
    """The pretrained network. Without ``model``, a convarch checkpoint rebuilds the network it describes;
    with a zoo name, ``create_model(name, weights=...)`` loads a file or a registered source; a pattern or a
    built model gets the file's tensors through the weights loader (which names any key that does not fit)."""
    if model is None:
        path = Path(str(weights))
        if path.is_dir():
            raise ConfigError(f"{weights} is a directory; give a checkpoint file in it, such as {path / ckpt.BEST}")
        if not path.is_file() and (path.suffix or len(path.parts) > 1):  # a file name, not a registry source
            raise WeightsError(f"no checkpoint at {weights}: the file does not exist; check the path")
        if not path.is_file():
            raise ConfigError(f"{weights} is not a checkpoint file, so name the zoo model it is for (MODEL)")
        return load_checkpoint(weights)
    if isinstance(model, str) and is_model_name(model):
        return create_model(model, weights=str(weights))
    target = model if isinstance(model, ConvNet) else _build(model, None)
    load_weights(target, str(weights))
    return target


def with_new_head(model: ConvNet, bundle: DataBundle, seed: int) -> ConvNet:
    """The pretrained backbone with a fresh classifier for the data's classes; its preprocessing kept."""
    torch.manual_seed(seed)
    model.reset_classifier(bundle.num_classes)  # always fresh, even with the same class count
    model.pretrained_cfg.update(bundle.preprocessing.to_cfg())
    model.class_names = list(bundle.class_names)
    return model


# ---- phase 1: the classifier on cached features -----------------------------------------------------------
@torch.no_grad()
def cached_features(model: ConvNet, bundle: DataBundle, side: str, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Every image's pooled features, in order and not augmented, computed at the largest batch (up to
    ``EVAL_BATCH``) whose forward pass fits on ``device`` (``check_feature_cache`` checks the cache itself)."""
    model.eval()
    batch_size = eval_batch_size(model, 1, device)  # check_feature_cache has checked that it fits
    features, labels = [], []
    for batch in bundle.loader(side, batch_size=batch_size, training=False, device=device):
        features.append(model.forward_head(model.forward_features(batch.x), pre_logits=True))
        labels.append(batch.y)
    return torch.cat(features), torch.cat(labels)


def check_feature_cache(model: ConvNet, bundle: DataBundle, device: torch.device) -> None:
    """Refuse, before any work, a frozen phase whose cached features (both sides, held together), beside the
    model and a forward pass, would not fit on ``device``."""
    images = len(bundle.train) + len(bundle.val)
    report = analyze_spec(model.spec, names=False)
    need = images * model.num_features * 4 + inference_bytes(report, eval_batch_size(model, 1, device))
    check_fits(need, device, f"a cache of the features of {images:,} images",
               "Use fewer images, or freeze_epochs=0 to fine-tune the whole network from the start.")  # fmt: skip


def train_head(model: ConvNet, bundle: DataBundle, config: TrainConfig, dist: Distributed, epochs: int,
               display: RunDisplay) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:  # fmt: skip
    """Train only ``model.classifier`` for ``epochs`` on features computed once; the history, and the
    classifier's weights at its best epoch (the first with the highest held-out top-1, as ``Trainer.save``
    keeps). Every rank does the same (it is cheap), so the ranks agree without communicating."""
    if epochs == 0:
        return [], {}
    device = dist.device
    model.to(device)
    check_feature_cache(model, bundle, device)
    train_x, train_y = cached_features(model, bundle, "train", device)
    val_x, val_y = cached_features(model, bundle, "val", device)
    head = model.classifier.train()
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    optimizer = torch.optim.AdamW(head.parameters(), lr=HEAD_LR, weight_decay=config.decay)
    history: list[dict[str, Any]] = []
    best: dict[str, torch.Tensor] = {}
    for epoch in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(
            len(train_y), generator=torch.Generator().manual_seed(derived_seed(config.seed, epoch, 4))
        )
        loss_sum, correct = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            pick = order[start : start + config.batch_size].to(device)
            logits = head(train_x[pick])
            loss = criterion(logits, train_y[pick])
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the loss became {float(loss):.4g} while training the new classifier; nothing was saved. "
                    "Check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(pick)
            correct += int((logits.argmax(1) == train_y[pick]).sum())
        elapsed = time.perf_counter() - started
        stats = _head_eval(head, val_x, val_y, nn.CrossEntropyLoss(), model.num_classes)  # plain CE, as evaluate
        if not math.isfinite(stats.loss):  # the last update can diverge after the last batch loss was checked
            raise TrainingDiverged(
                f"the new classifier's weights became non-finite after epoch {epoch + 1} (held-out loss "
                f"{stats.loss:.4g}); nothing was saved. Check the data"
            )
        row = {"epoch": epoch + 1, "phase": "frozen", "train_loss": loss_sum / len(order),
               "train_top1": correct / len(order), "val_loss": stats.loss, "val_top1": stats.top1,
               "val_top5": stats.top5, "lr": HEAD_LR, "time": round(elapsed, 3),
               "images_per_s": round(len(order) / max(elapsed, 1e-9), 1)}  # fmt: skip
        if is_new_best(row, history):
            best = {key: value.detach().clone() for key, value in head.state_dict().items()}
        history.append(row)
        display.line(epoch_line(row, config.epochs))
    return history, best


@torch.no_grad()
def _head_eval(head: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module, classes: int) -> EvalStats:
    head.eval()
    logits = head(x)
    head.train()
    confusion = torch.bincount(y * classes + logits.argmax(1), minlength=classes**2).reshape(classes, classes)
    return EvalStats(
        loss=float(criterion(logits, y)),
        top1=float((logits.argmax(1) == y).float().mean()),
        top5=float(top5_hits(logits, y)) / len(y) if top5_applies(classes) else None,
        count=len(y),
        confusion=confusion.cpu(),
    )


def save_frozen_phase(out: Path, model: ConvNet, history: list[dict[str, Any]], dist: Distributed,
                      extra: dict[str, str], best_head: dict[str, torch.Tensor]) -> None:  # fmt: skip
    """State and last hold the classifier as the phase ended; best holds it at its best epoch."""
    row = history[-1] if history else None
    parts = {"history": history,  # no RNG: the unfrozen phase seeds its own streams when it starts
             "progress": {"next_epoch": len(history), "phase": "frozen", "world": dist.world}}  # fmt: skip
    last_extra = {**extra, "epoch": str(len(history)), "val_top1": f"{row['val_top1']:.6f}" if row else ""}
    ckpt.write_state(out / ckpt.STATE, model, parts, last_extra)
    if row is None:
        return
    ckpt.write_model(model, out / ckpt.LAST, last_extra)
    best = max(history, key=lambda r: r["val_top1"])  # the first of equals, as train_head kept it
    final_head = {key: value.detach().clone() for key, value in model.classifier.state_dict().items()}
    model.classifier.load_state_dict(best_head)
    try:
        ckpt.write_model(model, out / ckpt.BEST, {**extra, "epoch": str(best["epoch"]),
                                                  "val_top1": f"{best['val_top1']:.6f}"})  # fmt: skip
    finally:
        model.classifier.load_state_dict(final_head)  # the unfrozen phase starts from where the phase ended
    ckpt.write_metrics(out, history)


# ---- phase 2: discriminative learning rates -------------------------------------------------------------
def discriminative_groups(model: ConvNet, lr: float, decay: float, weight_decay: float) -> list[dict[str, Any]]:
    """Parameter groups from the classifier back to the first stage, each ``decay`` times the next one's rate.

    Stages are the model's ``feature_info`` (where the resolution halves); the pre-logits layers (LeNet's
    F5/F6, VGG's FC-4096s) are one more group between the last stage and the classifier.
    """
    features = list(model.features.children())
    bounds = [info["index"] for info in model.feature_info]
    stages: list[list[nn.Module]] = []
    start = 0
    for end in bounds:
        stages.append(features[start : end + 1])
        start = end + 1
    if start < len(features):
        stages[-1] += features[start:]
    blocks = [*stages, [model.pre_logits], [model.classifier, model.post]]
    groups = []
    for depth, modules in enumerate(blocks):
        rate = lr * decay ** (len(blocks) - 1 - depth)
        params = [p for m in modules for p in m.parameters() if p.requires_grad]
        groups.append({"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay, "lr": rate})
        groups.append({"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr": rate})
    return groups
