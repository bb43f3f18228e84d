"""The training loop: one epoch after another, each ending with an evaluation and atomic checkpoints.

Determinism (the resume test relies on it): the data order and the augmentation are functions of
(seed, epoch, rank); dropout draws from the global RNG, whose state is saved with every checkpoint and
restored on resume; the schedule is a function of the step. So a run resumed from epoch ``e`` computes the
same tensors as one that never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convarch.data.datasets import DataBundle
from convarch.data.loader import Batch, derived_seed
from convarch.errors import ConfigError, advising
from convarch.hardware import precision_plan
from convarch.nn.model import ConvNet, classification_loss
from convarch.spec.elementwise import BN
from convarch.spec.walk import trace
from convarch.train import checkpoint as ckpt
from convarch.train.compiled import begin_step, compile_module
from convarch.train.config import TrainConfig, for_device
from convarch.train.distributed import Distributed
from convarch.train.ema import ModelEMA
from convarch.train.evaluate import (
    EvalStats,
    Logits,
    autocast_for,
    eval_precision,
    evaluate_loader,
    finite_with_batch_statistics,
    logits_of,
)
from convarch.train.memory import check_training_memory, eval_batch_size
from convarch.train.progress import RunDisplay, epoch_line
from convarch.train.schedule import Schedule, StepScheduler, make_optimizer, match_parameter_layout, param_groups
from convarch.train.state import capture_rng, restore_rng

BatchHook = Callable[[int, torch.Tensor], None]
DISPLAY_INTERVAL_S = 0.25
CHECK_EVERY = 32  # steps between loss checks on an accelerator (the same on every rank: the check is collective)


class TrainingDiverged(ConfigError):
    """The loss became NaN or infinite; the message names the step and the checkpoint that is still good."""


def smallest_batch(model: ConvNet) -> tuple[int, str]:
    """The fewest images one training step can take, and why. BatchNorm normalises each channel with the
    mean and variance over the batch and the positions (Ioffe & Szegedy 2015, §3.2), so one image whose map
    is larger than 1x1 is enough, but a BN that sees one value per channel (a 1x1 map or a vector) needs two."""
    for step in trace(model.spec):
        if isinstance(step.layer, BN) and step.input.h * step.input.w == 1:
            return 2, f"{step.path} is a BN on a {step.input} volume, one value per channel and image"
    return 1, ""


def preflight(model: ConvNet, config: TrainConfig, device: torch.device) -> None:
    """What can be refused before any work: a batch the network cannot train on, or one that cannot fit."""
    check_batch_size(model, config.batch_size)
    check_training_memory(model, config.batch_size, eval_batch_size(model, config.batch_size, device), device)


def fitted_batch(config: TrainConfig, images: int, display: RunDisplay) -> TrainConfig:
    """``config`` with its batch cut to the ``images`` one process trains on, when it asked for more, and said so.

    A larger batch gave one step an epoch at the learning rate of a batch that never happened (5000 asked of
    1,437 images: 7.8 instead of 2.2). Cut, the batch is the whole set, a default rate follows the linear
    scaling rule for the batch actually used (``TrainConfig.base_lr``), and a rate given by hand is kept.
    """
    if images < 1 or config.batch_size <= images:
        return config
    fitted = config.replace(batch_size=images)
    rate = "" if config.lr is not None else f", at the learning rate of that batch ({fitted.base_lr:.3g})"
    display.notice(f"note: batch size {config.batch_size} is more than the {images:,} training images; "
                   f"training on batches of {images:,}{rate}")  # fmt: skip
    return fitted


def check_batch_size(model: ConvNet, batch_size: int) -> int:
    """Refuse, before any work, a batch size the network cannot train on; returns the smallest batch."""
    smallest, why = smallest_batch(model)
    if batch_size < smallest:
        message = (f"batch size {batch_size} cannot train this network: {why}, and its batch statistics need at "
                   f"least {smallest} images. Use batch_size={smallest} or more")  # fmt: skip
        raise advising(ConfigError(message), "batch_size")
    return smallest


def held_out_overflow(loss: float, epoch: int, train_dtype: torch.dtype | None) -> str:
    """The warning for a non-finite held-out loss with finite weights. The run goes on: the weights and every
    batch loss are finite, so training is sound and it is the evaluation that overflowed, typically because
    batch-norm running statistics lag the weights early in training (they settle within a few epochs)."""
    precision = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(train_dtype, "fp32")  # type: ignore[arg-type]
    return (
        f"warning: the held-out loss after epoch {epoch + 1} is {loss:.4g} although the weights are finite: the "
        f"evaluation overflowed (eval precision follows training's {precision}; batch-norm running statistics "
        "are not settled yet). Training goes on; this epoch's held-out numbers are not meaningful."
    )


@dataclass
class TrainResult:
    """What a run produced. ``model`` is the final one (the EMA average with ``ema``), in eval mode."""

    model: ConvNet
    history: list[dict[str, Any]]
    out: Path | None
    data: DataBundle
    final: EvalStats | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    rank: int = 0  # under torchrun, only rank 0 reports

    @property
    def final_top1(self) -> float:
        return self.history[-1]["val_top1"] if self.history else float("nan")

    @property
    def best_top1(self) -> float:
        return max((row["val_top1"] for row in self.history), default=float("nan"))

    @property
    def best_epoch(self) -> int:
        return max(self.history, key=lambda row: row["val_top1"])["epoch"] if self.history else 0


def is_new_best(row: dict[str, Any], earlier: list[dict[str, Any]]) -> bool:
    """Whether ``row`` beats every earlier epoch's held-out top-1: a tie keeps the earlier epoch as best, as
    timm does and as ``TrainResult.best_epoch`` (the first maximum) reports it."""
    return not earlier or row["val_top1"] > max(r["val_top1"] for r in earlier)


class Trainer:
    """Trains ``model`` on ``data`` for epochs ``first_epoch .. config.epochs - 1``.

    ``first_epoch`` is where this trainer's schedule starts (after a frozen phase when fine-tuning);
    ``load_parts`` moves the start later when a run resumes, without moving the schedule.
    """

    def __init__(
        self,
        model: ConvNet,
        data: DataBundle,
        config: TrainConfig,
        dist: Distributed,
        *,
        out: Path | None = None,
        groups: list[dict[str, Any]] | None = None,
        first_epoch: int = 0,
        history: list[dict[str, Any]] | None = None,
        display: RunDisplay | None = None,
        on_batch: BatchHook | None = None,
        extra: dict[str, str] | None = None,
        phase: str = "train",
    ) -> None:
        self.model, self.data, self.config, self.dist, self.out = model, data, config, dist, out
        self.first_epoch, self.start_epoch, self.history = first_epoch, first_epoch, list(history or [])
        self.display = display or RunDisplay(None, enabled=False)
        self.on_batch, self.extra, self.phase = on_batch, dict(extra or {}), phase
        self.config = config = fitted_batch(for_device(config, dist.device), len(data.train) // dist.world,
                                            self.display)  # fmt: skip
        device = dist.device
        self.precision = precision_plan(device, bool(config.amp))
        if config.amp and not self.precision.enabled:
            self.display.notice(self.precision.reason)  # --amp asked for, and why it is off: also with --quiet
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(config.cudnn_benchmark)
        elif config.compile and config.compile_mode == "reduce-overhead":
            self.display.line(f"compile_mode reduce-overhead adds CUDA graphs, which need a GPU; on the "
                              f"{device.type} it compiles as the default mode")  # fmt: skip
        model.to(device)
        if config.channels_last:
            model.to(memory_format=torch.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.min_batch = check_batch_size(model, config.batch_size)
        self.val_batch = eval_batch_size(model, config.batch_size, device)
        common = dict(rank=dist.rank, world=dist.world, device=device, num_workers=config.num_workers,
                      decode=config.decode)  # fmt: skip
        # A compiled model sees full batches only: one shape, no recompiles (convarch.train.compiled). A batch of
        # another size runs eagerly, except under DDP, which drops it (a second wrapper would sync twice).
        full_only = config.compile and dist.enabled
        self.train_loader = data.loader("train", batch_size=config.batch_size, augment=config.augment, seed=config.seed,
                                        min_batch=config.batch_size if full_only else self.min_batch,
                                        **common)  # fmt: skip
        self.val_loader = data.loader("val", batch_size=self.val_batch, **common)
        if len(self.train_loader) == 0:
            message = (
                f"the training set ({len(data.train)} images over {dist.world} process(es)) gives no batch of "
                f"at least {self.train_loader.min_batch} image(s); use a smaller batch_size or fewer processes"
            )
            raise advising(ConfigError(message), "batch_size")
        steps = len(self.train_loader)
        self.optimizer = make_optimizer(groups or param_groups(model, config.decay, config.base_lr),
                                        config.optimizer, config.base_lr, config.momentum)  # fmt: skip
        total = (config.epochs - first_epoch) * steps
        self.scheduler = StepScheduler(self.optimizer, Schedule(config.schedule, total, round(config.warmup * steps)))
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.grad_scaler)
        self.ema = ModelEMA(model, config.ema_decay) if config.ema else None
        # One compiled module, used by the training steps and (without EMA) by every evaluation. Logits: the loss
        # takes logits, also from a net that ends in SOFTMAX.
        self.compiled: nn.Module | None = None
        if config.compile:
            self.compiled = compile_module(Logits(model), config.compile_mode)
        self.compiled_ema: nn.Module | None = None
        self.eager = Logits(model)  # the same parameters, for a batch a compiled module was not compiled for
        self.net: nn.Module = self.compiled if self.compiled is not None else self.eager
        if dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        # The CPU checks each batch's loss before its update (a sync costs nothing there); an accelerator
        # keeps the losses on the device and checks them every CHECK_EVERY steps: a sync per step would leave
        # the GPU idle while the CPU queues the next step's kernels.
        self.check_every = 1 if device.type == "cpu" else CHECK_EVERY
        self.skipped: dict[str, str] = {}
        # Dropout's stream: seeded per rank here, restored from the checkpoint by load_parts on resume.
        torch.manual_seed(derived_seed(config.seed, dist.rank, 3))

    # ---- state ------------------------------------------------------------------------------------
    def state_parts(self) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.dist.gather(capture_rng()),  # every rank's streams: each resumes its own
            "history": self.history,
            "progress": {
                "next_epoch": self.history[-1]["epoch"] if self.history else 0,
                "phase": self.phase,
                "world": self.dist.world,
            },
        }
        if self.ema is not None:
            parts["ema"] = self.ema.state_dict()
        return parts

    def load_parts(self, parts: dict[str, Any]) -> None:
        saved_world = parts["progress"]["world"]
        if saved_world != self.dist.world:
            raise ConfigError(
                f"this run was trained on {saved_world} process(es); resume it with the same number "
                f"(now {self.dist.world}) to continue exactly"
            )
        self.optimizer.load_state_dict(parts["optimizer"])
        match_parameter_layout(self.optimizer)
        self.scheduler.load_state_dict(parts["scheduler"])
        self.scaler.load_state_dict(parts["scaler"])
        if self.ema is not None:
            if "ema" not in parts:
                raise advising(ConfigError("this run was trained without ema; resume it without ema"), "ema")
            self.ema.load_state_dict(parts["ema"])
        restore_rng(parts["rng"][self.dist.rank])
        self.history = list(parts["history"])
        self.start_epoch = int(parts["progress"]["next_epoch"])

    # ---- the loop ---------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        try:
            return self._fit()
        finally:  # a folder's worker processes end with the run, also when it stops with an error
            self.train_loader.close()
            self.val_loader.close()

    def _fit(self) -> TrainResult:
        config = self.config
        for epoch in range(self.start_epoch, config.epochs):
            self.train_loader.set_epoch(epoch)
            started = time.perf_counter()
            loss, top1, seen = self._train_epoch(epoch)
            if seen == 0:  # e.g. every streamed file unreadable: an epoch without a step must not look like one
                self.skipped.update(getattr(self.train_loader, "skipped", {}))
                message = (f"epoch {epoch + 1} made no training step: no batch of at least "
                           f"{self.train_loader.min_batch} readable "
                           f"image(s) reached the network ({len(self.skipped)} unreadable file(s) skipped), so the "
                           "run stopped without saving this epoch. Check the data, or lower batch_size")  # fmt: skip
                raise advising(ConfigError(message), "batch_size")
            self.dist.average_buffers(self.model)
            if self.ema is not None:
                self.dist.average_buffers(self.ema.module)
            elapsed = time.perf_counter() - started
            stats = self.evaluate()
            # The batch losses are checked, but the epoch's last update can still leave non-finite weights (a
            # finite loss with an exploding gradient): checked here, before they are saved. Non-finite weights
            # stop the run. A non-finite held-out loss with finite weights stops it only when the network
            # overflows with batch statistics too; otherwise it is the running statistics (held_out_overflow).
            if (bad := self._non_finite_tensor()) is not None:
                raise self._diverged(f"{bad} became non-finite (held-out loss {stats.loss:.4g})", epoch,
                                     f"after epoch {epoch + 1}")  # fmt: skip
            if not math.isfinite(stats.loss):
                if not self._sound_with_batch_statistics():
                    raise self._diverged(f"the network's outputs overflow with finite weights (held-out loss "
                                         f"{stats.loss:.4g})", epoch, f"after epoch {epoch + 1}")  # fmt: skip
                self.display.line(held_out_overflow(stats.loss, epoch, self.precision.dtype))
            row = {
                "epoch": epoch + 1, "phase": self.phase, "train_loss": loss, "train_top1": top1,
                "val_loss": stats.loss, "val_top1": stats.top1, "val_top5": stats.top5, "lr": self.scheduler.lr,
                "time": round(elapsed, 3), "images_per_s": round(seen / max(elapsed, 1e-9), 1),
            }  # fmt: skip
            self.history.append(row)
            self.save(row)
            self.display.line(epoch_line(row, config.epochs))
        for loader in (self.train_loader, self.val_loader):  # files that failed while streaming from disk
            self.skipped.update(getattr(loader, "skipped", {}))
        final_model = self.eval_model
        final_model.eval()
        return TrainResult(final_model, self.history, self.out, self.data, skipped=sorted(self.skipped.items()),
                           rank=self.dist.rank)  # fmt: skip

    @property
    def eval_model(self) -> ConvNet:
        return self.ema.module if self.ema is not None else self.model  # type: ignore[return-value]

    def evaluate(self) -> EvalStats:
        model, config = self.eval_model, self.config
        net: nn.Module = model
        if self.compiled is not None:  # the compiled module (the EMA copy gets its own, compiled once)
            if self.ema is not None and self.compiled_ema is None:
                self.compiled_ema = compile_module(Logits(self.ema.module), config.compile_mode)
            net = self.compiled_ema if self.ema is not None else self.compiled  # type: ignore[assignment]
        # Validation loss is plain cross-entropy (no label smoothing), as `convarch evaluate` reports it.
        return evaluate_loader(net, self.val_loader, model.num_classes, self.dist,
                               dtype=eval_precision(self.precision.dtype), channels_last=bool(config.channels_last),
                               fixed_batch=self.val_batch if self.compiled is not None else None,
                               step_begin=self._begin_step)  # fmt: skip

    def _begin_step(self) -> None:
        begin_step(self.config.compile_mode if self.compiled is not None else "default")

    def _train_epoch(self, epoch: int) -> tuple[float, float, int]:
        config, dist, device = self.config, self.dist, self.dist.device
        self.net.train()
        steps = len(self.train_loader)
        # Per-step losses and correct counts stay on the device; sizes are known on the host.
        losses = torch.zeros(steps, dtype=torch.float32, device=device)
        hits = torch.zeros(steps, dtype=torch.int64, device=device)
        sizes = torch.zeros(steps, dtype=torch.float64)
        checked = done = 0
        self.display.start_epoch(f"epoch {epoch + 1}/{config.epochs}", steps)
        started = last_shown = time.perf_counter()
        try:
            for step, batch in enumerate(self.train_loader):
                if self.on_batch is not None:
                    self.on_batch(epoch, batch.index)
                for path, reason in batch.skipped:
                    self.skipped[path] = reason
                self._step(batch, epoch, step, losses, hits)
                sizes[step] = len(batch.y)
                done = step + 1
                if self.check_every > 1 and done - checked >= self.check_every:
                    self._check_losses(losses, checked, done, epoch)
                    checked = done
                now = time.perf_counter()
                if self.display.enabled and (now - last_shown > DISPLAY_INTERVAL_S or step == steps - 1):
                    last_shown = now
                    count = float(sizes[: step + 1].sum())
                    loss_sum = float((losses[: step + 1].double().cpu() * sizes[: step + 1]).sum())
                    correct = int(hits[: step + 1].sum())
                    rate = count * dist.world / (now - started)
                    self.display.update(step + 1, loss_sum / count, correct / count, rate)
        finally:
            self.display.end_epoch()
        if self.check_every > 1 and checked < done:
            self._check_losses(losses, checked, done, epoch)
        loss_sum = (losses.double().cpu() * sizes).sum()
        totals = dist.all_reduce(torch.stack([loss_sum, hits.sum().double().cpu(), sizes.sum()]))
        seen = int(totals[2])
        return float(totals[0]) / max(1, seen), float(totals[1]) / max(1, seen), seen

    def _step(self, batch: Batch, epoch: int, step: int, losses: torch.Tensor, hits: torch.Tensor) -> None:
        """One update; the batch's loss and correct count go to ``losses[step]`` and ``hits[step]``. Every
        per-step cost here is paid thousands of times on a small network, so disabled features (AMP, loss
        scaling) are skipped, not no-ops, and nothing waits for the GPU."""
        config = self.config
        x = batch.x.contiguous(memory_format=torch.channels_last) if config.channels_last else batch.x
        net = self.net if self.compiled is None or len(batch.y) == config.batch_size else self.eager
        self._begin_step()
        with autocast_for(self.dist.device, self.precision.dtype):
            output = net(x)
            loss = classification_loss(output, batch.y, self.criterion)
        losses[step] = loss.detach()
        # Checked before the update where a sync is free (the CPU); with several processes, all check together.
        if self.check_every == 1 and (self.dist.enabled or not math.isfinite(loss.item())):
            self._check_losses(losses, step, step + 1, epoch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
            if config.clip_grad is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if config.clip_grad is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad)
            self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        hits[step] = (logits_of(output).detach().argmax(dim=1) == batch.y).sum()

    def _check_losses(self, losses: torch.Tensor, start: int, stop: int, epoch: int) -> None:
        """Stop at a non-finite batch loss among steps ``start .. stop - 1`` (on any rank: all stop together)."""
        window = losses[start:stop]
        finite = self.dist.all_finite(window) if self.dist.enabled else bool(torch.isfinite(window).all())
        if finite:
            return
        bad = (~torch.isfinite(window)).nonzero()
        if len(bad) == 0:  # another rank's loss
            raise self._diverged("the loss became non-finite on another process", epoch, f"at epoch {epoch + 1}")
        step = start + int(bad[0])
        raise self._diverged(f"the loss became {float(losses[step]):.4g}", epoch,
                             f"at epoch {epoch + 1}, step {step + 1}")  # fmt: skip

    def _sound_with_batch_statistics(self) -> bool:
        """The evaluated model gives finite outputs on a held-out batch with batch statistics (on every rank)."""
        batch = next(iter(self.val_loader))
        finite = finite_with_batch_statistics(self.eval_model, batch.x)
        return self.dist.all_finite(torch.tensor(1.0 if finite else float("nan")))

    def _non_finite_tensor(self) -> str | None:
        """None when every floating tensor that ``save`` would write (model, EMA) is finite (one sync); else
        the first that is not, by what it is: "the weights (features.conv1.weight)", or "batch-norm statistics
        (features.bn1.running_var)", a buffer a finite held-out loss may sit beside."""
        models = {"the ": self.model} if self.ema is None else {"the ": self.model, "the EMA copy's ": self.ema.module}
        tensors = [(owner, name, t) for owner, m in models.items() for name, t in m.state_dict().items()
                   if t.is_floating_point()]  # fmt: skip
        if not tensors or bool(torch.stack([torch.isfinite(t).all() for _, _, t in tensors]).all()):
            return None
        owner, name, _ = next(item for item in tensors if not bool(torch.isfinite(item[2]).all()))
        is_buffer = name.endswith(("running_mean", "running_var"))
        return f"{owner}{'batch-norm statistics' if is_buffer else 'weights'} ({name})"

    def _diverged(self, what: str, epoch: int, where: str) -> TrainingDiverged:
        if self.out is not None and (self.out / ckpt.LAST).exists():
            kept = f"the last good checkpoint is {self.out / ckpt.LAST} (epoch {epoch})"
        else:
            kept = "no checkpoint was written before it"
        message = (f"{what} {where}; training stopped and {kept}. Lower lr (now {self.config.base_lr:g}), add "
                   "warmup or clip_grad, or check the data.")  # fmt: skip
        return advising(TrainingDiverged(message), "lr", "warmup", "clip_grad")

    # ---- checkpoints --------------------------------------------------------------------------------
    def save(self, row: dict[str, Any]) -> None:
        """Write state, last, best and the metrics (rank 0); every rank joins the RNG gather first."""
        parts = self.state_parts() if self.out is not None else None
        if self.out is None or not self.dist.is_main:
            return
        extra = {**self.extra, "epoch": str(row["epoch"]), "val_top1": f"{row['val_top1']:.6f}"}
        ckpt.write_state(self.out / ckpt.STATE, self.model, parts or {}, extra)
        ckpt.write_model(self.eval_model, self.out / ckpt.LAST, extra)
        # best: the first epoch with the highest held-out top-1 (a tie keeps the earlier, as timm does and as
        # TrainResult.best_epoch reports it)
        if is_new_best(row, [r for r in self.history if r is not row]):
            ckpt.write_model(self.eval_model, self.out / ckpt.BEST, extra)
        ckpt.write_metrics(self.out, self.history)
