"""The references ``gpu_check.py`` measures convarch against, written the way a PyTorch user would write them:
a plain training loop over tensors on the GPU, torchvision's ImageFolder + DataLoader loop, and a fixed-batch
step loop for throughput. Plus the JPEG folder they all read."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convarch.train.schedule import make_optimizer, param_groups


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _write_jpegs(job: tuple[str, int, int, int, int, int]) -> None:
    from PIL import Image

    root, start, stop, classes, h, w = job
    for i in range(start, stop):
        label = i % classes
        rng = np.random.default_rng(i)
        # A class-coloured gradient with texture: photo-like file sizes (~20-40 KB) and a learnable label.
        x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        hue = np.array([(label * 37) % 255, (label * 91) % 255, (label * 53) % 255], dtype=np.float32)
        base = hue * (0.5 + 0.5 * x)[..., None] + 60 * y[..., None]
        pixels = np.clip(base + rng.normal(0, 18, (h, w, 3)), 0, 255).astype(np.uint8)
        folder = Path(root) / f"class{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(folder / f"{i:05d}.jpg", quality=90)


def make_jpeg_folder(root: Path, count: int, size: tuple[int, int], classes: int = 10, processes: int = 8) -> Path:
    """``count`` JPEGs of ``size`` (H, W) in ``classes`` subfolders, written by ``processes`` processes."""
    h, w = size
    step = -(-count // processes)
    jobs = [(str(root), s, min(count, s + step), classes, h, w) for s in range(0, count, step)]
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(_write_jpegs, jobs))
    else:
        for job in jobs:
            _write_jpegs(job)
    return root


def _sgd(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return make_optimizer(param_groups(model, 5e-4, lr), "sgd", lr, 0.9)


def plain_tensor_loop(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...],
                      std: tuple[float, ...], *, batch: int, epochs: int, dtype: torch.dtype | None,
                      channels_last: bool) -> list[float]:  # fmt: skip
    """Images/s per epoch of the loop a user writes over uint8 images already on the device: shuffle, index,
    scale and normalise, forward and loss under autocast, backward, SGD step. Full batches only."""
    device = images.device
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _sgd(model, 0.1 * batch / 64)
    m = torch.tensor(mean, device=device).reshape(1, -1, 1, 1)
    s = torch.tensor(std, device=device).reshape(1, -1, 1, 1)
    rates = []
    for _ in range(epochs):
        sync(device)
        started = time.perf_counter()
        order = torch.randperm(len(labels), device=device)
        seen = 0
        for start in range(0, len(order) - batch + 1, batch):
            index = order[start : start + batch]
            x = (images[index].float().div_(255) - m) / s
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), labels[index], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += batch
        sync(device)
        rates.append(seen / (time.perf_counter() - started))
    return rates


def torchvision_folder_loop(root: Path, indices: list[int], model: nn.Module, *, image: int, batch: int,
                            workers: int, epochs: int, device: torch.device, dtype: torch.dtype | None,
                            channels_last: bool) -> list[float]:  # fmt: skip
    """Images/s per epoch of torchvision's recipe: ImageFolder + DataLoader (``workers`` persistent workers,
    pinned memory) with Resize, CenterCrop, RandomHorizontalFlip, ToTensor, Normalize, then the training step."""
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    transform = T.Compose([T.Resize(image), T.CenterCrop(image), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])  # fmt: skip
    dataset = torch.utils.data.Subset(ImageFolder(str(root), transform=transform), indices)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)  # fmt: skip
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = _sgd(model, 0.1 * batch / 64)
    rates = []
    for _ in range(epochs):
        started = time.perf_counter()
        seen = 0
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
        sync(device)
        rates.append(seen / (time.perf_counter() - started))
    return rates


def step_rate(model: nn.Module, *, batch: int, image: int, train: bool, dtype: torch.dtype | None,
              channels_last: bool, steps: int, device: torch.device) -> Callable[[], float]:  # fmt: skip
    """A function that runs ``steps`` fixed-batch steps (inference, or forward + backward + SGD) and returns
    images/s; call it once to warm up (cuDNN's autotuner, compilation)."""
    model.to(device).train(train)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, image, image, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if train else None

    def run() -> float:
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                if optimizer is None:
                    with torch.no_grad():
                        model(x)
                    continue
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(device)
        return steps * batch / (time.perf_counter() - started)

    return run
