"""``convarch report``: one self-contained HTML page per network, to mail or to put on a course site.

The page gathers what the public API says about the network: the spec's pattern text, ``ca.analyze``'s
Report, ``ca.check``'s findings, ``ca.model_info``'s paper, published figures and deviations, and
``ca.draw``'s volumes and block diagrams. ``Report`` stays what it is (rows and totals); ``ReportPage``
holds the rest. Styles and scripts are inlined and a Content-Security-Policy forbids every fetch, so the
page needs no network when it is viewed.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from convarch.analysis.findings import Finding, counts
from convarch.analysis.output import output_path
from convarch.analysis.render import human, human_bytes
from convarch.analysis.report import CONVENTIONS, Report
from convarch.api import Source, analyze, check, is_model_name, resolve, to_pattern
from convarch.draw.block import NoCompositeBlockError
from convarch.errors import ConvarchError
from convarch.explorer.assets import static_text
from convarch.explorer.diagrams import draw_svg
from convarch.io import write_text
from convarch.spec.bind import bind
from convarch.zoo import ModelInfo, model_info

NO_BLOCKS = (
    "No composite blocks: this network is a plain chain of layers (no branches, shortcuts or named "
    "blocks), so the volumes figure above is the whole of it."
)


@dataclass
class ReportPage:
    """Everything the page shows; each part as the public API returns it."""

    title: str
    pattern: str
    report: Report
    findings: list[Finding]
    info: ModelInfo | None = None
    diagrams: list[tuple[str, str]] = field(default_factory=list)  # (caption, SVG text or a note)


def gather(source: Source, *, input_size: tuple[int, int, int] | None = None, **keywords: Any) -> ReportPage:
    """Analyse, check and draw ``source`` with ``ca.analyze``'s keywords (``N=2``, ``num_classes=10``)."""
    report = analyze(source, input_size=input_size, **keywords)
    findings = check(source, input_size=input_size, **keywords)
    name = source.strip() if isinstance(source, str) and is_model_name(source) else ""
    info = model_info(name) if name else None
    concrete = bind(resolve(source), input_size=input_size, **keywords) if keywords or input_size else source
    page = ReportPage(name or "pattern", to_pattern(concrete), report, findings, info)
    for style, caption in (("volumes", "Volumes: each layer's output, as the seed draws AlexNet"),
                           ("block", "Blocks, as their papers draw them")):  # fmt: skip
        try:
            page.diagrams.append((caption, draw_svg(source, style=style, input_size=input_size, **keywords)))
        except NoCompositeBlockError:  # VGG, AlexNet, LeNet: said plainly, not as an error
            page.diagrams.append((caption, f"<p class='note'>{NO_BLOCKS}</p>"))
        except ConvarchError as error:
            page.diagrams.append((caption, f"<p class='message'>{html.escape(str(error))}</p>"))
    return page


def report_html(source: Source, *, input_size: tuple[int, int, int] | None = None, **keywords: Any) -> str:
    """The self-contained HTML report of a zoo name, pattern text or spec (``ca.analyze``'s keywords)."""
    return render(gather(source, input_size=input_size, **keywords))


def write_report(
    source: Source, path: str | os.PathLike, *, input_size: tuple[int, int, int] | None = None, **keywords: Any
) -> Path:
    """Write ``report_html(source, ...)`` to ``path`` (``.html``), atomically; returns the path."""
    target = output_path(path, (".html", ".htm"), what="report")
    return write_text(target, report_html(source, input_size=input_size, **keywords))


# ---- the page -------------------------------------------------------------------------------------

_E = html.escape


def render(page: ReportPage) -> str:
    report = page.report
    data = {
        "report": report.to_dict(),
        "findings": [asdict(f) for f in page.findings],
        "memory": {"forward_per_image": report.forward_bytes, "training_at_0": report.training_bytes(0),
                   "training_at_1": report.training_bytes(1)},
    }  # fmt: skip
    body = "\n".join((_paper(page.info, report), _source(page), _totals(report), _findings(page.findings),
                      _diagrams(page.diagrams), _layers(report)))  # fmt: skip
    from convarch import __version__

    slots = {
        "title": _E(f"{page.title} at {report.input}"),
        "input": _E(f"input {report.input}"),
        "version": __version__,
        "css": static_text("explorer.css"),
        "body": body,
        # "</" inside a script element would end it; JSON allows the escaped form.
        "data": json.dumps(data).replace("</", "<\\/"),
        "layers": static_text("layers.js"),
        "script": static_text("report.js"),
    }
    text = static_text("report.html")
    for name, value in slots.items():
        text = text.replace(f"<!--slot:{name}-->", value)
    return text


def _paper(info: ModelInfo | None, report: Report) -> str:
    if info is None:
        return ""
    lines = [f"<h2>Paper</h2><p>{_E(info.paper.cite())}</p>"]
    if info.ilsvrc:
        lines.append(f"<p>ILSVRC: {_E(info.ilsvrc)}</p>")
    # The published figure next to what convarch computes for this very network, and whether they agree.
    computed = {"parameters": (report.params, f"{report.params:,}"), "GMACs": (report.macs / 1e9, f"{report.macs:,}")}
    rows = []
    for label, figure in (("parameters", info.params), ("GMACs", info.gmacs), ("top-1 (%)", info.top1),
                          ("top-5 (%)", info.top5)):  # fmt: skip
        if figure is None:
            continue
        ours = ""
        if label in computed:
            value, shown = computed[label]
            ours = f"{shown} {'(matches)' if figure.matches(value) else '(differs)'}"
        rows.append(f"<tr><td>{label}</td><td class='num'>{_figure_value(figure.value)}</td><td>{_E(figure.source)}"
                    f"</td><td class='num'>{_E(ours)}</td></tr>")  # fmt: skip
    if rows:
        lines.append("<h2>Published figures</h2><table class='facts'><tr><th>figure</th><th>published</th>"
                     "<th>source</th><th>convarch computes</th></tr>" + "".join(rows) + "</table>")  # fmt: skip
    for heading, items in (("Deviations from the paper", info.deviations), ("Notes", info.notes)):
        if items:
            lines.append(f"<h2>{heading}</h2><ul>" + "".join(f"<li>{_E(i)}</li>" for i in items) + "</ul>")
    return "\n".join(lines)


def _figure_value(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _source(page: ReportPage) -> str:
    return f"<h2>Pattern</h2><pre class='pattern'>{_E(page.pattern)}</pre>"


def _totals(report: Report) -> str:
    aux = f"<tr><td>auxiliary heads (training only, not in the totals)</td><td class='num'>{report.aux_params:,}" \
          "</td></tr>" if report.aux_params else ""  # fmt: skip
    cells = [("parameters", f"{report.params:,} ({human(report.params)})"),
             ("multiply-adds (MACs)", f"{report.macs:,} ({human(report.macs)})"),
             ("FLOPs", f"{report.flops:,}"), ("activations", f"{report.activations:,}"),
             ("parameters in FC layers", f"{report.fc_params:,} ({report.fc_share:.0%})"),
             ("parameter memory", f"{report.param_bytes:,} B ({human_bytes(report.param_bytes)})")]  # fmt: skip
    rows = "".join(f"<tr><td>{label}</td><td class='num'>{value}</td></tr>" for label, value in cells)
    batch = ("<tr class='batch'><td>batch size <input id='batch' type='number' min='1' step='1' value='1'></td>"
             "<td class='message' id='batch-problem'></td></tr>"
             "<tr><td>forward memory (activations, float32)</td><td class='num' id='forward-batch'></td></tr>"
             "<tr><td>training memory (estimate)</td><td class='num' id='training-batch'></td></tr>")  # fmt: skip
    return (f"<h2>Totals</h2><table class='facts' id='totals'>{rows}{aux}{batch}</table>"
            f"<p class='note'>{_E(CONVENTIONS)}</p>")  # fmt: skip


def _findings(findings: list[Finding]) -> str:
    tally = ", ".join(f"{n} {severity}" for severity, n in counts(findings).items() if n) or "none"
    return f"<h2>Sizing findings ({tally})</h2><div id='findings'></div>"


def _diagrams(diagrams: list[tuple[str, str]]) -> str:
    parts = ["<h2>Diagrams</h2>"]
    for caption, svg in diagrams:
        parts.append(f"<figure><figcaption>{_E(caption)}</figcaption><div class='diagram'>{svg}</div></figure>")
    return "\n".join(parts)


def _layers(report: Report) -> str:
    return ("<h2>Layers</h2><p class='note'>Click a stage to fold it, a column to sort by it, a row or a finding "
            "to find the layer in the diagrams.</p><div id='layers' class='table-wrap'></div>"
            f"<noscript>{report._repr_html_()}</noscript>")  # fmt: skip
