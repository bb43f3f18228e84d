"""The checks ``gpu_check.py`` runs, one function each: ``check(context) -> dict``, with ``met`` for targets.

Every number is measured in the same run as its reference (a plain loop, torchvision), as a ratio.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import convarch as ca
from convarch import hardware
from convarch.train.config import available_cpus

DRY_NET = "CONV3-8 -> BN -> RELU -> POOL2 -> CONV3-16 -> BN -> RELU -> GAP -> FC10"
BENCHMARKS = Path(__file__).parent
REPO = BENCHMARKS.parent


@dataclass
class Context:
    sizes: Any  # gpu_check.Sizes
    tmp: Path
    deadline: float = 0.0
    cache: dict[str, Any] = field(default_factory=dict)
    partial: dict[str, Any] = field(default_factory=dict)
    partial_file: Path | None = None  # where note() saves ``partial``, for a parent that has to kill the check

    @property
    def device(self) -> torch.device:
        return torch.device(self.sizes.device)

    @property
    def workers(self) -> int:
        return self.sizes.workers if self.sizes.workers is not None else available_cpus()

    def note(self, text: str) -> None:
        """A progress line (flushed): where a check that hangs or runs out of time got to."""
        print(f"    {self.deadline - time.perf_counter():5.0f} s left: {text}", flush=True)
        if self.partial_file is not None:
            self.partial_file.with_suffix(".tmp").write_text(json.dumps(self.partial, default=str))
            self.partial_file.with_suffix(".tmp").replace(self.partial_file)

    def left(self) -> float:
        return max(1.0, self.deadline - time.perf_counter())

    def model(self, name: str, image: int | None = None) -> Any:
        """A zoo name for ca.train, or (dry run) a small network at a small input, as a spec."""
        if not self.sizes.dry:
            return name
        side = image or 32
        return f"INPUT({side}x{side}x3) -> {DRY_NET}"

    def jpeg_folder(self) -> Path:
        """~2,000 JPEGs of 256x320 in 10 classes, written once (more than the in-memory cache holds once
        ``cache=False`` says so; decoded they would fit, which is the default run's case)."""
        # Each check runs in a process of its own, so the folder is shared on disk, marked when complete.
        done = self.tmp / "jpegs.done"
        if "jpegs" not in self.cache and done.is_file():
            self.cache["jpegs"], self.cache["jpegs_s"] = self.tmp / "jpegs", float(done.read_text())
        if "jpegs" not in self.cache:
            from gpu_baselines import make_jpeg_folder

            started = time.perf_counter()
            root = make_jpeg_folder(self.tmp / "jpegs", self.sizes.jpegs, self.sizes.jpeg_hw,
                                    processes=1 if self.sizes.dry else min(16, os.cpu_count() or 1))  # fmt: skip
            self.cache["jpegs"] = root
            self.cache["jpegs_s"] = round(time.perf_counter() - started, 1)
            done.write_text(str(self.cache["jpegs_s"]))
        return self.cache["jpegs"]

    def lenet_checkpoint(self) -> Path:
        for trained in (self.tmp / "lenet" / "best.safetensors", self.tmp / "lenet-quick" / "best.safetensors"):
            if "lenet" not in self.cache and trained.is_file():  # written by an earlier check's process
                self.cache["lenet"] = trained
        if "lenet" not in self.cache:
            ca.train("lenet5", "mnist5k", out=self.tmp / "lenet-quick", device=self.sizes.device, epochs=2, quiet=True,
                     labels_per_class=self.sizes.labels_per_class)  # fmt: skip
            self.cache["lenet"] = self.tmp / "lenet-quick" / "best.safetensors"
        return self.cache["lenet"]


def environment(sizes: Any) -> dict[str, Any]:
    import torchvision

    info = {**hardware.describe(), "torchvision": torchvision.__version__, "python": sys.version.split()[0]}
    if torch.cuda.is_available():
        info["cuda_version"] = torch.version.cuda
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def free_memory(sizes: Any) -> None:
    gc.collect()
    if sizes.device == "cuda":
        torch.cuda.empty_cache()


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def _steady(history: list[dict[str, Any]]) -> float:
    """Images/s of the fastest epoch after the first (which pays for cuDNN's autotuner and compilation)."""
    rows = history[1:] or history
    return max(row["images_per_s"] for row in rows)


def _run(argv: list[str], context: Context, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(argv, capture_output=True, text=True, timeout=context.left(), env=env,
                          cwd=cwd or context.tmp)  # fmt: skip


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---- correctness ------------------------------------------------------------------------------------
def equivalence(context: Context) -> dict[str, Any]:
    """Ours against torchvision on the device, random weights and BN statistics, TF32 off: max abs difference."""
    import torchvision

    from convarch.zoo.keymaps import from_layout

    sizes, device = context.sizes, context.device
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    diffs = context.partial.setdefault("max_abs_diff", {})
    try:
        for name in sizes.equivalence:
            torch.manual_seed(0)
            reference = torchvision.models.get_model(name, num_classes=10).eval()
            for module in reference.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_()
                    module.running_var.uniform_(0.5, 2.0)
            with torch.device("meta"):
                ours = ca.create_model(name, num_classes=10).eval()
            ours.load_state_dict(from_layout(name, reference.state_dict(), "torchvision", ours.spec), assign=True)
            x = torch.randn(4, 3, sizes.equivalence_image, sizes.equivalence_image, device=device)
            reference.to(device)
            ours.to(device)
            with torch.no_grad():
                diffs[name] = float((ours(x) - reference(x)).abs().max())
            del reference, ours
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    return {"max_abs_diff": diffs, "target": "<= 1e-4 each", "met": all(d <= 1e-4 for d in diffs.values())}


def lenet5_mnist5k(context: Context) -> dict[str, Any]:
    """The defaults on the device, data held there: >= 98.5% held out in <= 10 s of training."""
    started = time.perf_counter()
    options = {"epochs": context.sizes.lenet_epochs} if context.sizes.lenet_epochs else {}
    result = ca.train("lenet5", "mnist5k", out=context.tmp / "lenet", device=context.sizes.device, quiet=True,
                      labels_per_class=context.sizes.labels_per_class, **options)  # fmt: skip
    context.cache["lenet"] = context.tmp / "lenet" / "best.safetensors"
    training = sum(row["time"] for row in result.history)
    top1 = result.final_top1
    met = {"top1>=98.5%": top1 >= 0.985, "training<=10s": training <= 10} if not context.sizes.dry else None
    return {"top1": round(top1, 4), "best_top1": round(result.best_top1, 4), "training_s": round(training, 2),
            "wall_s": round(time.perf_counter() - started, 1), "epochs": len(result.history), "met": met}  # fmt: skip


def resnet18_folder_defaults(context: Context) -> dict[str, Any]:
    """The issue's run with the defaults (`convarch train resnet18 --data FOLDER --device cuda`): no false
    divergence stop, and the held-out loss of every epoch (a warning, not a stop, if one overflows)."""
    root = context.jpeg_folder()
    model = "resnet18" if not context.sizes.dry else "lenet5"
    out = context.tmp / "r18-defaults"
    argv = ["train", model, "--data", str(root), "--device", context.sizes.device, "--epochs", "3",
            "--batch-size", str(context.sizes.folder_batch), "--out", str(out), "--quiet"]  # fmt: skip
    proc = _run([sys.executable, "-m", "convarch", *argv], context)
    rows = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else []
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "warning" in line.lower()]
    return {"returncode": proc.returncode, "epochs_done": len(rows), "val_loss": [r["val_loss"] for r in rows],
            "val_top1": [round(r["val_top1"], 4) for r in rows], "images_per_s": [r["images_per_s"] for r in rows],
            "warnings": warnings[:3], "jpeg_folder_s": context.cache.get("jpegs_s"),
            "stderr_tail": _tail(proc.stderr) if proc.returncode else "",
            "met": proc.returncode == 0 and len(rows) == 3}  # fmt: skip


# ---- speed against references ------------------------------------------------------------------------
def jpeg_pipeline(context: Context) -> dict[str, Any]:
    """A JPEG folder streamed from disk (cache off), resnet18 at 224, the same workers: convarch's CPU decode
    and GPU decode against torchvision's ImageFolder + DataLoader + the same training step."""
    from gpu_baselines import torchvision_folder_loop

    sizes, root = context.sizes, context.jpeg_folder()
    model = context.model(sizes.folder_model, sizes.image)
    common = dict(device=sizes.device, epochs=sizes.folder_epochs, batch_size=sizes.folder_batch, augment="flip",
                  cache=False, num_workers=context.workers, quiet=True)  # fmt: skip
    rates: dict[str, float] = context.partial.setdefault("images_per_s", {})
    for decode in ("cpu", "gpu") if sizes.device == "cuda" else ("cpu",):
        context.note(f"convarch, {decode} decode: training")
        result = ca.train(model, root, decode=decode, **common)
        rates[f"convarch_{decode}_decode"] = _steady(result.history)
        context.note(f"convarch, {decode} decode: {[row['images_per_s'] for row in result.history]} img/s")
        n_train = len(result.data.train)
        free_memory(sizes)
    indices = torch.randperm(sizes.jpegs, generator=torch.Generator().manual_seed(0))[:n_train].tolist()
    torch.manual_seed(0)
    reference = _torchvision_model(sizes.folder_model, sizes.image, dry_source=model if sizes.dry else None)
    context.note("torchvision ImageFolder + DataLoader: training")
    tv = torchvision_folder_loop(root, indices, reference, image=sizes.image, batch=sizes.folder_batch,
                                 workers=context.workers, epochs=sizes.folder_epochs, device=context.device,
                                 dtype=hardware.precision_plan(context.device, True).dtype,
                                 channels_last=sizes.device == "cuda")  # fmt: skip
    rates["torchvision_imagefolder"] = max(tv[1:] or tv)
    ratios = {k: _ratio(v, rates["torchvision_imagefolder"]) for k, v in rates.items() if k.startswith("convarch")}
    met = {"cpu_decode>=1.0x": ratios.get("convarch_cpu_decode", 0) >= 1.0}
    if "convarch_gpu_decode" in ratios:
        met["gpu_decode>=2.0x"] = ratios["convarch_gpu_decode"] >= 2.0
    return {"images_per_s": {k: round(v, 1) for k, v in rates.items()}, "ratio_to_torchvision": ratios,
            "workers": context.workers, "train_images": n_train, "met": met if not sizes.dry else None}  # fmt: skip


def _big_model(who: str, sizes: Any, image: int) -> torch.nn.Module:
    """The throughput checks' model, 10 classes: ours (``who="convarch"``) or torchvision's of the same name."""
    if who == "convarch":
        return ca.create_model(sizes.big_model, num_classes=10)
    return _torchvision_model(sizes.big_model, image)


def _torchvision_model(name: str, image: int, dry_source: str | None = None) -> torch.nn.Module:
    """torchvision's ``name``; in a dry run with ``dry_source``, that small network instead."""
    import torchvision

    if dry_source is not None:
        return ca.build(dry_source, num_classes=10)
    return torchvision.models.get_model(name, num_classes=10)


def train_vs_plain_loop(context: Context) -> dict[str, Any]:
    """`ca.train` epoch throughput on in-memory data (resnet50 at 224, bf16 + channels_last, the GPU defaults)
    against a plain loop doing the same work on the same model and data: >= 0.97x."""
    from gpu_baselines import plain_tensor_loop

    sizes = context.sizes
    source = context.model(sizes.big_model, sizes.image)
    options = dict(epochs=sizes.big_epochs, batch_size=sizes.big_batch, augment="none", device=sizes.device,
                   labels_per_class=sizes.labels_per_class, quiet=True)  # fmt: skip
    context.note("ca.train: loading mnist5k at the model's input and training")
    result = ca.train(source, "mnist5k", **options)
    ours = _steady(result.history)
    context.partial["ca_train_images_per_s"] = round(ours, 1)
    context.note(f"ca.train: {[row['images_per_s'] for row in result.history]} img/s; plain loop next")
    bundle = result.data
    del result
    images = bundle.train.images.to(context.device)  # type: ignore[union-attr]
    labels = bundle.train.labels.to(context.device)
    torch.manual_seed(0)
    plain_model = ca.create_model(source, num_classes=10)  # the network ca.train built (a zoo name or pattern)
    plan = hardware.precision_plan(context.device, sizes.device == "cuda")
    plain = plain_tensor_loop(plain_model, images, labels, bundle.preprocessing.mean, bundle.preprocessing.std,
                              batch=sizes.big_batch, epochs=sizes.big_epochs, dtype=plan.dtype,
                              channels_last=sizes.device == "cuda")  # fmt: skip
    reference = max(plain[1:] or plain)
    ratio = _ratio(ours, reference)
    return {"ca_train_images_per_s": round(ours, 1), "plain_images_per_s": round(reference, 1), "ratio": ratio,
            "precision": str(plan.dtype), "met": {"ratio>=0.97": ratio >= 0.97} if not sizes.dry else None}  # fmt: skip


def compile_small_nets(context: Context) -> dict[str, Any]:
    """LeNet-5 and the CIFAR ResNet-20 at 32x32 (launch-bound): a compiled epoch against an eager one, compile
    time beside it. Target: >= 2x for the better compile mode. CUDA graphs first, the default mode if time is
    left."""
    sizes = context.sizes
    modes = ("reduce-overhead", "default") if sizes.device == "cuda" else ("default",)
    nets = ("lenet5", "resnet20")
    report: dict[str, Any] = context.partial
    common = dict(device=sizes.device, epochs=sizes.small_epochs, batch_size=sizes.small_batch, quiet=True,
                  labels_per_class=sizes.labels_per_class)  # fmt: skip
    for name in nets:
        eager = ca.train(name, "mnist5k", **common)
        report[name] = {"eager_epoch_s": round(min(row["time"] for row in eager.history[1:] or eager.history), 4)}
        context.note(f"{name} eager epochs {[row['time'] for row in eager.history]} s")
    for mode in modes:
        for name in nets:
            if context.left() < 12:
                report[name][mode] = "skipped: out of time"
                continue
            if sizes.dry:
                _eager_backend(True)
            try:
                context.note(f"{name} compiled ({mode}): training")
                compiled = ca.train(name, "mnist5k", compile=True, compile_mode=mode, **common)
            finally:
                _eager_backend(False)
            times = [r["time"] for r in compiled.history]
            steady = min(times[1:] or times)
            report[name][mode] = {
                "epoch_s": round(steady, 4),
                "speedup": _ratio(report[name]["eager_epoch_s"], steady),
                "compile_s": round(times[0] - steady, 1),
                "top1": round(compiled.final_top1, 4),
            }
            context.note(f"{name} {mode}: {report[name][mode]}")
            free_memory(sizes)
    best = {n: max((r[m]["speedup"] for m in modes if isinstance(r.get(m), dict)), default=0)
            for n, r in report.items()}  # fmt: skip
    return {**report, "met": {f"{n}>=2x": s >= 2 for n, s in best.items()} if not sizes.dry else None}


def _eager_backend(on: bool) -> None:
    """In a dry run, compile with dynamo's eager backend: the code path without a C++ toolchain's minutes."""
    from convarch.train import trainer

    if on:
        trainer.compile_module = lambda module, mode: torch.compile(module, backend="eager", dynamic=False)
    else:
        from convarch.train.compiled import compile_module

        trainer.compile_module = compile_module


def throughput_vs_torchvision(context: Context) -> dict[str, Any]:
    """Fixed-batch inference and training steps, ours against torchvision: fp32 and bf16 + channels_last."""
    from gpu_baselines import step_rate

    sizes = context.sizes
    image = sizes.image if sizes.dry else 224
    results: dict[str, Any] = context.partial
    low = hardware.precision_plan(context.device, True).dtype
    settings = [("inference_fp32", False, None, False), ("inference_bf16_cl", False, low, True),
                ("train_bf16_cl", True, low, True)]  # fmt: skip
    for label, train, dtype, cl in settings:
        rates = {}
        for who in ("convarch", "torchvision"):
            torch.manual_seed(0)
            model = _big_model(who, sizes, image)
            run = step_rate(model, batch=sizes.big_batch, image=image, train=train, dtype=dtype, channels_last=cl,
                            steps=sizes.throughput_steps, device=context.device)  # fmt: skip
            run()
            rates[who] = max(run(), run())
            del model, run
            free_memory(sizes)
        results[label] = {k: round(v, 1) for k, v in rates.items()} | {
            "ratio": _ratio(rates["convarch"], rates["torchvision"])
        }
        context.note(f"{label}: {results[label]}")
    return {"model": sizes.big_model, "batch": sizes.big_batch, **results}


def compiled_throughput(context: Context) -> dict[str, Any]:
    """A compiled bf16 + channels_last training step (mode default) against eager, ours then torchvision's."""
    from gpu_baselines import step_rate

    sizes = context.sizes
    image = sizes.image if sizes.dry else 224
    low = hardware.precision_plan(context.device, True).dtype
    report: dict[str, Any] = context.partial
    report["model"] = sizes.big_model
    if sizes.dry:
        _eager_backend(True)
    try:
        for who in ("convarch", "torchvision"):
            if context.left() < 30 and who == "torchvision":
                report[who] = "skipped: out of time"
                continue
            torch.manual_seed(0)
            model = _big_model(who, sizes, image)
            eager = step_rate(model, batch=sizes.big_batch, image=image, train=True, dtype=low, channels_last=True,
                              steps=sizes.throughput_steps, device=context.device)  # fmt: skip
            eager()
            eager_rate = eager()
            from convarch.train import trainer

            report[who] = {"eager": round(eager_rate, 1)}
            context.note(f"{who}: eager {eager_rate:.0f} img/s; compiling")
            compiled_model = trainer.compile_module(model, "default")
            run = step_rate(compiled_model, batch=sizes.big_batch, image=image, train=True, dtype=low,
                            channels_last=True, steps=sizes.throughput_steps, device=context.device)  # fmt: skip
            started = time.perf_counter()
            run()
            compile_s = time.perf_counter() - started
            rate = run()
            report[who] = {"eager": round(eager_rate, 1), "compiled": round(rate, 1),
                           "compiled/eager": _ratio(rate, eager_rate), "compile_s": round(compile_s, 1)}  # fmt: skip
            del model, compiled_model, run, eager
            free_memory(sizes)
    finally:
        _eager_backend(False)
    return report


# ---- workflows on the device ------------------------------------------------------------------------------
def finetune(context: Context) -> dict[str, Any]:
    weights = context.cache.get("lenet") or context.lenet_checkpoint()
    result = ca.finetune(data="digits", weights=weights, device=context.sizes.device, epochs=6, quiet=True,
                         out=context.tmp / "finetune")  # fmt: skip
    return {"top1": round(result.final_top1, 4), "epochs": len(result.history),
            "met": result.final_top1 > 0.5}  # fmt: skip


def torchrun_one_process(context: Context) -> dict[str, Any]:
    """`torchrun --nproc_per_node=1 -m convarch train` on the device (nccl on a GPU, gloo on the CPU)."""
    out = context.tmp / "torchrun"
    extra = ["--labels-per-class", str(context.sizes.labels_per_class)] if context.sizes.labels_per_class else []
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "convarch",
                 "train", "lenet5", "--data", "mnist5k", "--epochs", "2", "--device", context.sizes.device, "--quiet",
                 "--out", str(out), *extra], context)  # fmt: skip
    rows = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else []
    return {"returncode": proc.returncode, "epochs_done": len(rows), "stderr_tail": _tail(proc.stderr) if
            proc.returncode else "", "met": proc.returncode == 0 and len(rows) == 2,
            "note": "world size 1: convarch trains without DDP or a process group"}  # fmt: skip


def resume_after_kill(context: Context) -> dict[str, Any]:
    """SIGKILL a run on the device after its second checkpoint, resume it, and get every epoch once."""
    out, epochs = context.tmp / "killed", 6
    extra = ["--labels-per-class", str(context.sizes.labels_per_class)] if context.sizes.labels_per_class else []
    argv = [sys.executable, "-m", "convarch", "train", "lenet5", "--data", "mnist5k", "--epochs", str(epochs),
            "--device", context.sizes.device, "--quiet", "--out", str(out), *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=context.tmp)
    killed_after = None
    try:
        while process.poll() is None and time.perf_counter() < context.deadline - 10:
            metrics = out / "metrics.json"
            done = len(json.loads(metrics.read_text())) if metrics.is_file() else 0
            if done >= 2:
                process.send_signal(signal.SIGKILL)
                killed_after = done
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    resumed = _run([sys.executable, "-m", "convarch", "train", "--resume", str(out), "--quiet"], context)
    rows = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else []
    numbers = [r["epoch"] for r in rows]
    return {
        "killed_after_epochs": killed_after,
        "resume_returncode": resumed.returncode,
        "epochs": numbers,
        "final_top1": round(rows[-1]["val_top1"], 4) if rows else None,
        "stderr_tail": _tail(resumed.stderr) if resumed.returncode else "",
        "met": killed_after is not None and resumed.returncode == 0 and numbers == list(range(1, epochs + 1)),
    }


def deploy(context: Context) -> dict[str, Any]:
    """The deploy issue's GPU row: ``benchmarks/deploy_gpu.py``'s ``gpu_deploy_check()``, when it exists."""
    if not (BENCHMARKS / "deploy_gpu.py").is_file():
        return {"status_note": "benchmarks/deploy_gpu.py is not in this tree", "met": None}
    module = importlib.import_module("deploy_gpu")
    check = module.gpu_deploy_check
    parameters = inspect.signature(check).parameters
    kwargs: dict[str, Any] = {}
    if "dry_run" in parameters:
        kwargs["dry_run"] = context.sizes.dry
    if "device" in parameters:
        kwargs["device"] = context.sizes.device
    if "budget_s" in parameters:
        kwargs["budget_s"] = context.left() - 2
    result = check(**kwargs)
    return result if isinstance(result, dict) else {"result": result}


def gpu_tests(context: Context) -> dict[str, Any]:
    """The suite's tests marked ``gpu`` (``pytest -m gpu``), which skip on machines without a GPU."""
    if importlib.util.find_spec("pytest") is None:
        return {"note": "pytest is not installed on this machine", "met": None}
    # The files that hold gpu-marked tests: collecting the whole suite would take most of the time limit.
    files = sorted({str(path.relative_to(REPO)) for path in (REPO / "tests").rglob("test_*.py")
                    if "mark.gpu" in path.read_text(errors="replace")})  # fmt: skip
    proc = _run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                 *files], context, cwd=REPO)  # fmt: skip
    summary = _tail(proc.stdout, 1)
    return {"files": files, "returncode": proc.returncode, "summary": summary, "output_tail": _tail(proc.stdout, 15) if
            proc.returncode else "", "met": proc.returncode == 0}  # fmt: skip
