"""Options shared by the commands that take pattern text: ``--input HxWxC``, ``--set NAME=VALUE``, ``--num-classes``.

They turn into the keywords of ``ca.build`` / ``ca.check`` / ``ca.analyze``: ``input_size`` (C, H, W),
``num_classes``, and template variables or binding options (``N=2``, ``base_width=64``, ``optional=keep``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from convarch.api import is_model_name, resolve
from convarch.errors import ConfigError
from convarch.spec.bind import check_names
from convarch.spec.limits import MAX_DIM
from convarch.spec.volume import Volume

InputOption = Annotated[
    str | None,
    typer.Option("--input", help="Input volume HxWxC such as 32x32x3; fills a bare INPUT, replaces the pattern's."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Bind a template variable or option: --set N=2 --set M=3 --set base_width=64."),
]
NumClassesOption = Annotated[
    int | None, typer.Option("--num-classes", help="Classes of the final FC (a template's last FC gets this).")
]
_VOLUME = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*")
_SETTING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*")


def input_size(text: str | None) -> tuple[int, int, int] | None:
    """``"224x224x3"`` (the seed's H x W x C) -> ``(3, 224, 224)`` (PyTorch's C, H, W)."""
    if text is None:
        return None
    match = _VOLUME.fullmatch(text)
    if match is None:
        raise ConfigError(f"--input must be a volume H x W x C such as 32x32x3, got {text!r}")
    h, w, c = (int(v) for v in match.groups())
    if not all(1 <= v <= MAX_DIM for v in (h, w, c)):
        raise ConfigError(f"--input dimensions must be from 1 to {MAX_DIM:,}, got {text!r}")
    mistake = Volume(c, h, w).order_mistake(f"--input {text.strip()}", text=True)
    if mistake:
        raise ConfigError(mistake)
    return (c, h, w)


def settings(items: list[str] | None) -> dict[str, Any]:
    """``["N=2", "optional=keep"]`` -> ``{"N": 2, "optional": "keep"}``; values are whole numbers or names."""
    values: dict[str, Any] = {}
    for item in items or []:
        match = _SETTING.fullmatch(item)
        if match is None:
            raise ConfigError(f"--set takes NAME=VALUE such as N=2, got {item!r}")
        name, value = match.groups()
        if name in values:
            raise ConfigError(f"--set {name} is given twice")
        values[name] = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value
    return values


def template_settings(source: str | None, sets: list[str] | None) -> dict[str, Any]:
    """``--set`` for a command that hands the bindings on with its other options (train, finetune):
    the names are checked against the pattern now, so a misspelt one is named as such, with the closest."""
    found = settings(sets)
    if found:
        if source is None or is_model_name(source):
            raise ConfigError(f"--set binds the variables of a template pattern; {source or 'this run'} is not one")
        check_names(resolve(source), found)
    return found


def keywords(input_text: str | None, sets: list[str] | None, num_classes: int | None) -> dict[str, Any]:
    """The keywords of ``build``/``check``/``analyze`` for these options (only the ones given)."""
    found: dict[str, Any] = settings(sets)
    for name in ("input_size", "num_classes"):
        if name in found:
            raise ConfigError(f"use --{name.replace('_', '-')}" + (" HxWxC" if name == "input_size" else "")
                              + f" rather than --set {name}=...")  # fmt: skip
    size = input_size(input_text)
    if size is not None:
        found["input_size"] = size
    if num_classes is not None:
        found["num_classes"] = num_classes
    return found
