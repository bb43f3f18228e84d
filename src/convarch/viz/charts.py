"""The complexity charts: Canziani-style comparison, per-layer profile, and design-sweep scatter.

Figures are made with matplotlib's object API (no pyplot, no display), so they draw the same in a
terminal, a test run or a notebook.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from convarch.analysis.compare import Comparison
from convarch.analysis.profile import Profile
from convarch.analysis.render import human
from convarch.analysis.sweep import Instance
from convarch.errors import ConfigError
from convarch.viz.save import save_figure

BUBBLE_POINTS_PER_MILLION = 12.0  # marker area (points^2) per million parameters


def complexity_chart(rows: list[Comparison], path: str | Path) -> tuple[Path, list[str]]:
    """``complexity_figure`` saved to ``path``; returns the path and the names left out of the chart."""
    figure, skipped = complexity_figure(rows)
    return save_figure(figure, path), skipped


def complexity_figure(rows: list[Comparison]) -> tuple[Figure, list[str]]:
    """Top-1 accuracy against GMACs, bubble area proportional to params, each bubble labelled.

    After Canziani, Paszke & Culurciello 2016 (arXiv 1605.07678), Fig. 2. With measured latencies a
    second panel plots inference time per image against batch size (their Fig. 3). Returns the figure
    and the names left out for want of a published top-1.
    """
    plotted = [r for r in rows if r.top1 is not None]
    skipped = [r.name for r in rows if r.top1 is None]
    measured = [r for r in rows if r.latency]
    if not plotted and not measured:
        raise ConfigError(
            f"no published top-1 accuracy for {', '.join(skipped) or 'any model'}, so the chart would be empty; "
            "chart zoo models with published figures (a model's info lists them), or measured latencies for "
            "the timing panel"
        )
    figure = Figure(figsize=(13 if measured else 7.5, 5.5))
    axes = figure.add_subplot(1, 2 if measured else 1, 1)
    for row in plotted:
        area = bubble_area(row.report.params)
        axes.scatter(row.gmacs, row.top1.value, s=area, alpha=0.45, edgecolors="black", linewidths=0.6)
        axes.annotate(f"{row.name}\n{human(row.report.params)}", (row.gmacs, row.top1.value), ha="center",
                      va="center", fontsize=8)  # fmt: skip
    axes.set_xlabel("operations per image (GMACs, multiply-adds of CONV and FC layers)")
    axes.set_ylabel("published top-1 accuracy (%)")
    axes.set_title("Accuracy vs operations; bubble area proportional to parameters", fontsize=10)
    axes.grid(alpha=0.3)
    if plotted:
        _pad_limits(axes, [r.gmacs for r in plotted], [r.top1.value for r in plotted])
    if measured:
        timing = figure.add_subplot(1, 2, 2)
        for row in measured:
            batches = sorted(row.latency)
            timing.plot(batches, [row.latency[b] / b * 1e3 for b in batches], marker="o", label=row.name)
        timing.set_xscale("log", base=2)
        timing.set_yscale("log")
        timing.set_xlabel("batch size")
        timing.set_ylabel("inference time per image (ms, median)")
        timing.set_title("Measured on this machine", fontsize=10)
        timing.grid(alpha=0.3, which="both")
        timing.legend(fontsize=8)
    return figure, skipped


def _pad_limits(axes, xs: list[float], ys: list[float]) -> None:  # type: ignore[no-untyped-def]
    """Leave room around the bubbles so the biggest is not cut at the frame."""
    span_x, span_y = max(xs) - min(xs) or max(xs) or 1.0, max(ys) - min(ys) or 5.0
    axes.set_xlim(max(0.0, min(xs) - 0.15 * span_x), max(xs) + 0.15 * span_x)
    axes.set_ylim(min(ys) - 0.2 * span_y, max(ys) + 0.2 * span_y)


def profile_chart(profile: Profile, path: str | Path) -> Path:
    """Per-layer forward memory (top) and parameters (bottom), in layer order."""
    figure = Figure(figsize=(max(7.0, 0.32 * len(profile.names)), 6.5))
    memory, params = figure.subplots(2, 1, sharex=True)
    positions = range(len(profile.names))
    memory.bar(positions, [b / 2**20 for b in profile.memory_bytes], color="tab:blue")
    memory.set_ylabel("forward memory (MiB, float32)")
    params_at = f"parameter centre at {profile.params_centre:.0%}" if sum(profile.params) else "no parameters"
    memory.set_title(f"{profile.title}: memory centre at {profile.memory_centre:.0%} of depth, {params_at}",
                     fontsize=10)  # fmt: skip
    params.bar(positions, [p / 1e6 for p in profile.params], color="tab:orange")
    params.set_ylabel("parameters (millions)")
    params.set_xlabel("layer (in order)")
    if len(profile.names) <= 60:
        params.set_xticks(list(positions), profile.names, rotation=90, fontsize=7)
    for axes in (memory, params):
        axes.grid(alpha=0.3, axis="y")
    return save_figure(figure, path)


def sweep_chart(results: list[Instance], pattern: str, path: str | Path) -> Path:
    """``sweep_figure`` saved to ``path``."""
    return save_figure(sweep_figure(results, pattern), path)


def sweep_figure(results: list[Instance], pattern: str) -> Figure:
    """Each instance as a point: params against MACs, coloured by forward memory; flagged ones ringed."""
    ok = [r for r in results if r.ok and r.params and r.macs]
    figure = Figure(figsize=(8, 6))
    axes = figure.add_subplot(1, 1, 1)
    if ok:
        memory = [r.forward_bytes / 2**20 for r in ok]
        points = axes.scatter([r.params for r in ok], [r.macs for r in ok], c=memory, cmap="viridis", s=36,
                              edgecolors=["red" if r.findings else "none" for r in ok], linewidths=1.2)  # fmt: skip
        figure.colorbar(points, ax=axes, label="forward memory per image (MiB)")
        axes.set_xscale("log")
        axes.set_yscale("log")
    failed = len(results) - len(ok)
    axes.set_xlabel("parameters")
    axes.set_ylabel("MACs per image")
    title = pattern if len(pattern) < 90 else pattern[:87] + "..."
    note = f"; {failed} did not work out" if failed else ""
    axes.set_title(f"{title}\n{len(results)} instances{note}; red ring: sizing findings", fontsize=9)
    axes.grid(alpha=0.3, which="both")
    return figure


def bubble_area(params: int) -> float:
    """Marker area used for a model of ``params`` parameters (proportional, with a visible minimum)."""
    return max(params / 1e6 * BUBBLE_POINTS_PER_MILLION, 8.0)
