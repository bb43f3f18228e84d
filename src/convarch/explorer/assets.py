"""The explorer's page files, shipped in the package (``convarch/explorer/static``, package data)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def static_text(name: str) -> str:
    """A file of ``convarch/explorer/static`` as text; only names the code itself passes."""
    return (resources.files("convarch.explorer") / "static" / name).read_text(encoding="utf-8")
