"""Option text as people type it, read the same way by the command line and the explorer's query strings.

``"224x224x3"`` is an input volume in the seed's H x W x C order and ``"N=2"`` a template binding. The
parsing lives in the library, not in ``cli/``, so the explorer's server (which must not depend on the
command-line package) and the CLI give the same answers and the same errors; each names its own field.
"""

from __future__ import annotations

import re
from typing import Any

from convarch.errors import ConfigError
from convarch.spec.limits import MAX_DIM
from convarch.spec.volume import Volume

_VOLUME = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*[xX×]\s*(\d+)\s*")  # as a pattern's INPUT reads it
_SETTING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*")


def input_size(text: str | None, *, option: str = "--input") -> tuple[int, int, int] | None:
    """``"224x224x3"`` (the seed's H x W x C) -> ``(3, 224, 224)`` (PyTorch's C, H, W).

    ``option`` names the field in the messages (the explorer's query calls it ``input``).
    """
    if text is None:
        return None
    match = _VOLUME.fullmatch(text)
    if match is None:
        raise ConfigError(f"{option} must be a volume H x W x C such as 32x32x3, got {text!r}")
    h, w, c = (int(v) for v in match.groups())
    if not all(1 <= v <= MAX_DIM for v in (h, w, c)):
        raise ConfigError(f"{option} dimensions must be from 1 to {MAX_DIM:,}, got {text!r}")
    mistake = Volume(c, h, w).order_mistake(f"{option} {text.strip()}", text=True)
    if mistake:
        raise ConfigError(mistake)
    return (c, h, w)


def settings(items: list[str] | None, *, option: str = "--set") -> dict[str, Any]:
    """``["N=2", "optional=keep"]`` -> ``{"N": 2, "optional": "keep"}``; values are whole numbers or names.

    ``option`` names the field in the messages (the explorer's query calls each one a binding).
    """
    values: dict[str, Any] = {}
    for item in items or []:
        match = _SETTING.fullmatch(item)
        if match is None:
            raise ConfigError(f"{option} takes NAME=VALUE such as N=2, got {item!r}")
        name, value = match.groups()
        if name in values:
            raise ConfigError(f"{option} {name} is given twice")
        values[name] = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value
    return values
