"""Shared test setup. Tests run two workers on two cores, so each uses one thread."""

from __future__ import annotations

import math

import pytest
import torch

import convarch as ca
from convarch.errors import SizingError
from convarch.spec.edit import with_input
from convarch.spec.nodes import NetSpec

torch.set_num_threads(1)


def smallest_input(spec: NetSpec, sizes: tuple[int, ...] = (32, 48, 64, 96, 128, 160, 192)) -> NetSpec:
    """The spec at the smallest square input it accepts (keeps the suite fast); its own size otherwise."""
    for size in sizes:
        if spec.input is not None and size >= spec.input.h:
            break
        candidate = with_input(spec, size=(size, size))
        try:
            ca.analyze(candidate)
        except SizingError:
            continue
        return candidate
    return spec


def nominal_reduction(input_size: int, feature_size: int) -> int:
    return 2 ** round(math.log2(input_size / feature_size))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _wide_cli_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist workers export COLUMNS=80; CLI tests read whole table rows, as a pipe would get them."""
    from convarch.cli.app import PIPED_WIDTH, console, err_console

    for target in (console, err_console):
        monkeypatch.setattr(target, "width", PIPED_WIDTH)
