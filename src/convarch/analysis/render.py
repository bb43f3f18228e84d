"""Renderings of a report: a rich table, JSON, CSV and HTML. Each carries the counting conventions."""

from __future__ import annotations

import csv
import html
import io
import json
import shutil
from dataclasses import fields
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from convarch.analysis.report import Report, Row


class PrintableTable(Table):
    """A rich Table that ``print`` shows as the table: rich's own class prints as its object's address."""

    def __str__(self) -> str:
        return plain_text(self)


def plain_text(renderable: object) -> str:
    """What rich would draw in this terminal (or 120 columns when there is none), without colours."""
    from rich.console import Console

    width = shutil.get_terminal_size((120, 24)).columns
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue().rstrip("\n")  # type: ignore[attr-defined]


def human(n: float, unit: str = "") -> str:
    """``138357544`` -> ``138.4M``; ``1536`` -> ``1.5K``; small numbers stay whole."""
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.1f}{suffix}{unit}"
    return f"{n:,.0f}{unit}" if float(n).is_integer() else f"{n:.3g}{unit}"


def gmacs_text(macs: float) -> str:
    """Multiply-adds in billions, three decimals, or three significant digits below 0.1 G: LeNet-5's
    416,520 would read 0.000 (``0.000417``)."""
    gmacs = macs / 1e9
    return f"{gmacs:.3f}" if gmacs >= 0.1 or gmacs == 0 else f"{gmacs:.3g}"


def human_bytes(n: float) -> str:
    for size, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{n:.0f} B"


def title_of(report: Report) -> str:
    return f"{report.title} at {report.input}" if report.title else f"input {report.input}"


def totals_line(report: Report) -> str:
    """The totals in one line, as every rendering's header states them."""
    aux = f"; auxiliary heads (not in totals): {human(report.aux_params)} params" if report.aux_params else ""
    return (
        f"params {human(report.params)} ({report.params:,}), MACs {human(report.macs)}, FLOPs "
        f"{human(report.flops)}, activations {human(report.activations)}, forward memory "
        f"{human_bytes(report.forward_bytes)}/image, training memory (batch 1, estimate) "
        f"{human_bytes(report.training_bytes())}, parameter memory {human_bytes(report.param_bytes)}, "
        f"FC share of params {report.fc_share:.0%}{aux}"
    )


def _shown_rows(report: Report, compact: bool) -> list[Row]:
    return report.compact_rows() if compact else report.rows


def report_table(report: Report, *, compact: bool = False) -> Table:
    from convarch.analysis.report import CONVENTIONS

    caption = f"{totals_line(report)}.\n{CONVENTIONS}"
    table = PrintableTable(title=title_of(report), caption=caption, caption_justify="left", title_justify="left")
    for header in ("#", "layer", "output", "activations", "params", "weights", "MACs"):
        table.add_column(header, justify="left" if header == "layer" else "right")
    table.add_row("0", "INPUT", str(report.input), f"{report.input.numel:,}", "0", "0", "0")
    shown = _shown_rows(report, compact)
    for row in shown:
        activations = f"{row.activations:,}" if row.allocates else "(in place)"
        name = f"{row.name} (aux)" if row.aux else row.name
        table.add_row(str(row.index), name, row.output, activations, f"{row.params:,}", f"{row.weights:,}",
                      f"{row.macs:,}", style="dim" if row.aux else None)  # fmt: skip
    table.add_section()
    # the compact listing leaves out rows that neither hold weights nor change the volume; they still
    # allocate, and the totals are the network's, so the label says so rather than leave a sum that differs
    hidden = len(report.rows) - len(shown)
    label = f"TOTAL (with {hidden} row{'s' * (hidden != 1)} not listed)" if hidden else "TOTAL"
    table.add_row("", label, "", f"{report.activations:,}", f"{report.params:,}", f"{report.weights:,}",
                  f"{report.macs:,}", style="bold")  # fmt: skip
    return table


def report_json(report: Report, *, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), indent=indent)


def report_csv(report: Report) -> str:
    """``#`` comment lines (title, conventions, totals), a header, then one line per layer."""
    from convarch.analysis.report import CONVENTIONS, Row

    buffer = io.StringIO()
    buffer.write(f"# {title_of(report)}\n# conventions: {CONVENTIONS}\n")
    buffer.write("# totals: " + ", ".join(f"{k}={v}" for k, v in report.totals().items()) + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    names = [f.name for f in fields(Row)]
    writer.writerow(names)
    for row in report.rows:
        writer.writerow([getattr(row, name) for name in names])
    return buffer.getvalue()


def report_html(report: Report, *, compact: bool = False) -> str:
    """A plain HTML table for notebooks; the caption states the totals and the conventions."""
    from convarch.analysis.report import CONVENTIONS

    def cells(tag: str, values: list[str]) -> str:
        return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"

    headers = ["#", "layer", "output", "activations", "params", "weights", "MACs"]
    lines = [cells("th", headers), cells("td", ["0", "INPUT", str(report.input), f"{report.input.numel:,}", "0", "0",
                                                "0"])]  # fmt: skip
    for row in _shown_rows(report, compact):
        activations = f"{row.activations:,}" if row.allocates else "(in place)"
        lines.append(cells("td", [str(row.index), row.name + (" (aux)" if row.aux else ""), row.output, activations,
                                  f"{row.params:,}", f"{row.weights:,}", f"{row.macs:,}"]))  # fmt: skip
    lines.append(cells("th", ["", "TOTAL", "", f"{report.activations:,}", f"{report.params:,}",
                              f"{report.weights:,}", f"{report.macs:,}"]))  # fmt: skip
    caption = f"<b>{html.escape(title_of(report))}</b><br>{html.escape(totals_line(report))}.<br>"
    caption += f"<small>{html.escape(CONVENTIONS)}</small>"
    body = "".join(lines)
    return f'<table class="convarch-report"><caption style="text-align:left">{caption}</caption>{body}</table>'
