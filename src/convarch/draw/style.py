"""Sizes, colours and label text shared by the three styles."""

from __future__ import annotations

LABEL = 11.0  # font size of volume and operation labels
SMALL = 9.5  # second lines, branch and shortcut notes

# Pale fills, one per kind of layer that makes a volume; composites (a collapsed block) get BLOCK.
COLOURS = {
    "INPUT": "#e6e6e6",
    "CONV": "#cfe1f5",
    "POOL": "#f8d9c4",
    "SUBSAMPLE": "#f8d9c4",
    "FC": "#d4ecc6",
    "RBF": "#d4ecc6",
    "GAP": "#f8d9c4",
    "BLOCK": "#e4d8f2",
}
OTHER = "#efe9d8"
LEGEND = {
    COLOURS["CONV"]: "convolution",
    COLOURS["POOL"]: "pooling (or subsampling)",
    COLOURS["FC"]: "fully connected",
    COLOURS["BLOCK"]: "block (collapsed)",
    OTHER: "other layer",
}
# Slices of a concatenation: colours no layer kind uses, so a stripe never reads as a pool or an FC
SLICES = ("#f3cfe0", "#fbefb8", "#c6e7e2", "#e9bcbc", "#e3dd9f", "#c7cbe9")
# Arguments that change no number on a figure: they stay in the report's row name, not on an arrow.
QUIET_ARGUMENTS = ("bias", "eps", "momentum", "count_pad")


def colour_of(kind: str) -> str:
    return COLOURS.get(kind, OTHER)


def slice_colour(index: int) -> str:
    return SLICES[index % len(SLICES)]


def shade(colour: str, factor: float) -> str:
    """``colour`` lightened (factor > 1) or darkened (< 1)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    if factor >= 1:
        r, g, b = (round(v + (255 - v) * (factor - 1) * 4) for v in (r, g, b))
    else:
        r, g, b = (round(v * factor) for v in (r, g, b))
    return "#" + "".join(f"{min(255, max(0, v)):02x}" for v in (r, g, b))


def arrow_lines(name: str) -> list[str]:
    """A report row's name as arrow label lines: ``CONV7-64(s=2, bias=false)`` -> ``CONV7-64``, ``s=2``."""
    head, _, rest = name.partition("(")
    arguments = [a.strip() for a in rest.rstrip(")").split(",") if a.strip()]
    kept = [a for a in arguments if a.split("=")[0] not in QUIET_ARGUMENTS]
    return [head, ", ".join(kept)] if kept else [head]
