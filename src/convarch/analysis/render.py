"""Human-readable rendering of reports: compact numbers and rich tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from convarch.analysis.report import Report


def human(n: float, unit: str = "") -> str:
    """``138357544`` -> ``138.4M``; ``1536`` -> ``1.5K``; small numbers stay whole."""
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}{unit}"
    return f"{n:,.0f}{unit}" if float(n).is_integer() else f"{n:.3g}{unit}"


def human_bytes(n: float) -> str:
    for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{n:.0f} B"


def report_table(report: Report, *, compact: bool = False) -> Table:
    from convarch.analysis.report import CONVENTIONS

    title = f"{report.title} at {report.input}" if report.title else f"input {report.input}"
    table = Table(title=title, caption=CONVENTIONS, caption_justify="left", title_justify="left")
    for header, justify in (("#", "right"), ("layer", "left"), ("output", "right"), ("activations", "right"),
                            ("params", "right"), ("MACs", "right")):  # fmt: skip
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    table.add_row("0", "INPUT", str(report.input), f"{report.input.numel:,}", "0", "0")
    previous = str(report.input)
    for row in report.rows:
        if compact and not row.params and row.output == previous:
            continue
        previous = row.output
        activations = f"{row.activations:,}" if row.allocates else "(in place)"
        table.add_row(str(row.index), row.name, row.output, activations, f"{row.params:,}", f"{row.macs:,}")
    table.add_section()
    table.add_row(
        "",
        "TOTAL",
        "",
        f"{report.activations:,}",
        f"{report.params:,}",
        f"{report.macs:,}",
        style="bold",
    )
    return table
