"""``convarch check`` and ``convarch build``: size a pattern with the seed's rules, and build it to a file.

Exit codes follow the checker: 0 clean (warnings and notes allowed), 1 when a rule reports an error
(``--strict``: a warning too), 2 for a pattern that does not parse (the caret message, no traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.text import Text

from convarch.analysis.findings import Finding, counts
from convarch.analysis.output import output_path
from convarch.analysis.render import human
from convarch.api import analyze, build, check, resolve, to_pattern
from convarch.cli.app import app, console
from convarch.cli.options import InputOption, NumClassesOption, SetOption, keywords, pattern_argument
from convarch.errors import SizingError
from convarch.spec.bind import bind
from convarch.weights.checkpoint import save

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}
PatternArgument = Annotated[str, pattern_argument("Pattern text in quotes, or a zoo model name.")]


def finding_line(finding: Finding) -> Text:
    """One finding on one line: severity (coloured), rule id, layer, and the message with its arithmetic."""
    line = Text(f"{finding.severity:<7}", style=SEVERITY_STYLES[finding.severity])
    where = f"#{finding.index} {finding.layer}" if finding.index else finding.layer
    line.append(f" [{finding.rule}] {where}: ", style="bold")
    line.append(finding.message)
    return line


def summary(findings: list[Finding]) -> str:
    tally = counts(findings)
    words = {"error": "error", "warning": "warning", "info": "note"}
    return ", ".join(f"{n} {words[s]}{'' if n == 1 else 's'}" for s, n in tally.items())


@app.command("check")
def check_command(
    pattern: PatternArgument,
    input_text: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too, not only on errors.")] = False,
) -> None:
    """Check a pattern against the sizing rules: the layer table (volumes, params, MACs), then the findings."""
    options = keywords(input_text, sets, num_classes, source=pattern)
    spec = resolve(pattern)
    findings = check(spec, **options)
    try:
        bound = bind(spec, **options)
        console.print(Text(f"pattern: {to_pattern(bound)}"), soft_wrap=True)
        console.print(analyze(bound).to_table())
    except SizingError:
        console.print("no layer table: the volume does not work out (see the errors below)")
    for finding in findings:
        console.print(finding_line(finding), soft_wrap=True)
    tally = counts(findings)
    console.print(f"check: {summary(findings)}" + ("" if findings else " - the sizes work out"))
    failed = tally["error"] or (strict and tally["warning"])
    raise typer.Exit(1 if failed else 0)


@app.command("build")
def build_command(
    pattern: PatternArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model (.safetensors).")],
    input_text: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1, help="Random seed of the initial weights.")] = 0,
) -> None:
    """Build a pattern into an initialised model and save it, with its spec and pattern text in the file."""
    options = keywords(input_text, sets, num_classes, source=pattern)
    out = output_path(out, (".safetensors",), "the model")  # refused before anything is built
    torch.manual_seed(seed)
    model = build(resolve(pattern), **options)
    path = save(model, out)
    params = sum(p.numel() for p in model.parameters())
    console.print(Text(f"pattern: {to_pattern(model.spec)}"), soft_wrap=True)
    console.print(f"wrote {path} ({human(params)} parameters, {model.num_classes} classes)", highlight=False)
    findings = check(model.spec)
    if findings:
        console.print(f"check: {summary(findings)} (convarch check shows them)")
