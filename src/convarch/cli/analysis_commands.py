"""``convarch compare``, ``profile``, ``sweep`` and ``bench``: model complexity, statically and measured."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from convarch.analysis.compare import Comparison, compare, seed_lineup
from convarch.analysis.measure import BenchResult, bench
from convarch.analysis.output import output_path
from convarch.analysis.profile import layer_profile
from convarch.analysis.render import gmacs_text, human, human_bytes
from convarch.analysis.report import CONVENTIONS
from convarch.analysis.sweep import parse_setting, sizing_checker, sweep, to_csv, to_json
from convarch.api import analyze, resolve
from convarch.cli.app import app, console, err_console
from convarch.cli.options import InputOption, SetOption, pattern_argument, settings
from convarch.cli.options import input_size as parse_input
from convarch.errors import ConfigError
from convarch.io import write_text
from convarch.spec.bind import bind

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ConfigError(f"--batch {text!r}: give positive integers separated by commas, e.g. 1,8,32") from None
    if not batches or min(batches) < 1:
        raise ConfigError(f"--batch {text!r}: batch sizes must be at least 1")
    return batches


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """A transient bar on stderr; yields the function that advances it by one."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda *_: progress.advance(task)


# ---- compare --------------------------------------------------------------------------------------


def _comparison_table(rows: list[Comparison], batches: tuple[int, ...]) -> tuple[Table, list[str]]:
    sources: list[str] = []
    table = Table(title="Model complexity comparison", caption=CONVENTIONS, caption_justify="left",
                  title_justify="left")  # fmt: skip
    headers = ["model", "year", "input", "params", "GMACs", "activations", "fwd mem/image", "param mem",
               "top-1", "top-5", "FC share"] + [f"ms @ batch {b}" for b in batches]  # fmt: skip
    for header in headers:
        table.add_column(header, justify="left" if header == "model" else "right")
    for row in rows:
        r = row.report
        marks = []
        for figure in (row.top1, row.top5):
            if figure is not None and figure.source not in sources:
                sources.append(figure.source)
            marks.append(f"{figure.value:.2f} [{sources.index(figure.source) + 1}]" if figure else "-")
        latency = [f"{row.latency[b] * 1e3:.1f}" if b in row.latency else "-" for b in batches]
        table.add_row(row.name, str(row.year or "-"), str(r.input), human(r.params), gmacs_text(r.macs),
                      human(r.activations), human_bytes(r.forward_bytes), human_bytes(r.param_bytes), *marks,
                      f"{r.fc_share:.0%}",
                      *latency)  # fmt: skip
    return table, [f"[{i}] {s}" for i, s in enumerate(sources, 1)]


@app.command("compare")
def compare_command(
    names: Annotated[
        list[str] | None,
        pattern_argument("Zoo names or patterns (default: seed lineup)."),
    ] = None,
    chart: Annotated[str | None, typer.Option(help="Draw the Canziani-style chart to FILE.png or FILE.svg.")] = None,
    measure: Annotated[bool, typer.Option("--measure", help="Also measure latency on this machine.")] = False,
    batch: Annotated[str, typer.Option(help="Batch sizes for --measure, e.g. 1,8.")] = "1,8",
    input_size: InputOption = None,
    as_json: JsonOption = False,
    sets: SetOption = None,
    runtime: Annotated[str, typer.Option(help="--measure with torch or onnxruntime (implies --optimize).")] = "torch",
    optimize: Annotated[bool, typer.Option("--optimize", help="--measure ca.optimize's inference path.")] = False,
) -> None:
    """Models side by side: year, params, GMACs, activations, memory, published accuracy, FC share."""
    if chart is not None:
        from convarch.viz.save import chart_path

        chart_path(chart)  # a bad path fails now, not after the work
    batches = parse_batches(batch) if measure else ()
    if not names:
        names, missing = seed_lineup()
        if missing:
            err_console.print(f"note: {', '.join(missing)} not registered yet; comparing {', '.join(names)}")
    rows = compare(list(names), input_size=parse_input(input_size), **settings(sets))
    if measure:
        with progress_bar("measuring", len(rows) * len(batches)) as advance:
            for row in rows:
                # optimized once per model (an ONNX export takes seconds), eager once per batch size
                groups = [batches] if optimize or runtime != "torch" else [(b,) for b in batches]
                for group in groups:
                    result = bench(row.name, batches=group, input_size=row.report.input.chw, warmup=1, repeats=5,
                                   max_seconds=3.0, measure_peak=False, runtime=runtime, optimize=optimize)  # fmt: skip
                    for timing in result.timings:
                        row.latency[timing.batch] = timing.median
                        advance()
    if as_json:
        print(json.dumps({"conventions": CONVENTIONS, "models": [r.to_dict() for r in rows]}, indent=2))
    else:
        table, footnotes = _comparison_table(rows, batches)
        console.print(table)
        for line in footnotes:
            console.print(line, highlight=False)
    if chart is not None:
        from convarch.viz.charts import complexity_chart

        saved, skipped = complexity_chart(rows, chart)
        if skipped:
            err_console.print(f"note: no published top-1 for {', '.join(skipped)}; left out of the chart")
        err_console.print(f"chart written to {saved}")


# ---- profile --------------------------------------------------------------------------------------

REPORT_FORMATS = {".json": "to_json", ".csv": "to_csv", ".html": "_repr_html_"}


@app.command("profile")
def profile_command(
    model: Annotated[str, pattern_argument("A zoo model name, or pattern text in quotes.")],
    chart: Annotated[str | None, typer.Option(help="Draw memory and params per layer to FILE.png|svg.")] = None,
    input_size: InputOption = None,
    out: Annotated[str | None, typer.Option(help="Write the full report to FILE.json, .csv or .html.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Every layer, not only those with weights/new volumes.")] = False,
    sets: SetOption = None,
) -> None:
    """Per-layer memory and parameters of one model, and where each is concentrated."""
    from convarch.viz.save import chart_path

    chart_file = chart_path(chart) if chart else None
    out_file = output_path(out, REPORT_FORMATS, what="report") if out else None
    report = analyze(model, input_size=parse_input(input_size), **settings(sets))
    profile = layer_profile(report)
    console.print(report.to_table(compact=not full))
    console.print(profile.summary(), highlight=False)
    if out_file is not None:
        write_text(out_file, getattr(report, REPORT_FORMATS[out_file.suffix.lower()])())
        err_console.print(f"report written to {out_file}")
    if chart_file is not None:
        from convarch.viz.charts import profile_chart

        err_console.print(f"chart written to {profile_chart(profile, chart_file)}")


# ---- sweep ----------------------------------------------------------------------------------------


@app.command("sweep")
def sweep_command(
    pattern: Annotated[str, pattern_argument("A template pattern with variables, in quotes.")],
    settings: Annotated[list[str], typer.Option("--set", help="A variable's values: N=1..3 or N=1,2,4.")],
    input_size: InputOption = None,
    out: Annotated[str | None, typer.Option(help="Write every instance to FILE.csv or FILE.json.")] = None,
    chart: Annotated[str | None, typer.Option(help="Scatter params vs MACs to FILE.png|svg.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse every instance of a template pattern: params, MACs, memory and sizing findings.

    Exits 0 when at least one instance works out (the others are listed with why), 1 when none does."""
    from convarch.viz.save import chart_path

    chart_file = chart_path(chart) if chart else None
    out_file = output_path(out, (".csv", ".json"), what="sweep output") if out else None
    values: dict[str, list[int]] = {}
    for text in settings:
        name, options = parse_setting(text)
        if name in values:
            raise ConfigError(f"--set {name} is given twice; give each variable once")
        values[name] = options
    spec = resolve(pattern)
    checker = sizing_checker()
    started = time.perf_counter()
    with progress_bar("analysing instances", math.prod(len(v) for v in values.values())) as advance:
        results = sweep(spec, values, input_size=parse_input(input_size), checker=checker, on_instance=advance)
    elapsed = time.perf_counter() - started
    if as_json:
        print(to_json(results, pattern))
    else:
        table = Table(title=f"sweep: {pattern}", title_justify="left", caption=CONVENTIONS, caption_justify="left")
        for header in (*values, "params", "GMACs", "fwd mem/image", "findings"):
            table.add_column(header, justify="left" if header == "findings" else "right")
        for r in results:
            found = r.error or ("n/a" if checker is None else ", ".join(f"{f['severity']}: {f['rule']}"
                                                                        for f in r.findings) or "none")  # fmt: skip
            counts = (human(r.params), f"{r.macs / 1e9:.4f}", human_bytes(r.forward_bytes)) if r.ok else ("-",) * 3
            table.add_row(*(str(v) for v in r.values.values()), *counts, found)
        console.print(table)
    failed = sum(not r.ok for r in results)
    rules = "" if checker else "; sizing findings: n/a (the sizing rules are not installed yet)"
    err_console.print(f"{len(results)} instances analysed in {elapsed:.3f} s; {failed} did not work out{rules}")
    if out_file is not None:
        write_text(out_file, (to_csv if out_file.suffix.lower() == ".csv" else to_json)(results, pattern))
        err_console.print(f"results written to {out_file}")
    if chart_file is not None:
        from convarch.viz.charts import sweep_chart

        err_console.print(f"chart written to {sweep_chart(results, pattern, chart_file)}")
    if results and failed == len(results):  # nothing to compare: a failure, as check's errors are
        err_console.print("error: no instance worked out; see the findings column for why")
        raise typer.Exit(1)


# ---- bench ----------------------------------------------------------------------------------------


def _bench_table(result: BenchResult) -> Table:
    title = f"{result.model} at {result.input[1]}x{result.input[2]}x{result.input[0]}, {result.device} {result.dtype}"
    title += f", {result.threads} threads" + (", channels_last" if result.channels_last else "")
    title += f", {result.runtime}" if result.runtime != "torch eager" else ""
    peak = f"{result.matmul_gflops:.1f}" if result.matmul_gflops else "n/a"
    table = Table(title=title, caption=f"matmul peak of this machine: {peak} GFLOP/s. GFLOP/s = 2 x static MACs "
                  "x batch / median latency.", caption_justify="left", title_justify="left")  # fmt: skip
    for header in ("batch", "median latency", "images/s", "GFLOP/s", "of matmul peak", "peak memory"):
        table.add_column(header, justify="right")
    for t in result.timings:
        fraction = result.fraction(t)
        table.add_row(str(t.batch), f"{t.median * 1e3:.2f} ms", f"{t.images_per_second:.1f}", f"{t.gflops:.1f}",
                      f"{fraction:.0%}" if fraction is not None else "n/a",
                      human_bytes(t.peak_bytes) if t.peak_bytes is not None else "n/a")  # fmt: skip
    return table


@app.command("bench")
def bench_command(
    model: Annotated[str, pattern_argument("A zoo model name, or pattern text in quotes.")],
    batch: Annotated[str, typer.Option(help="Batch sizes, e.g. 1,8,32.")] = "1",
    threads: Annotated[int | None, typer.Option(help="CPU threads (torch.set_num_threads).")] = None,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    dtype: Annotated[str | None, typer.Option(help="fp32 or bf16 [default: fp32; --optimize chooses].")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    runtime: Annotated[str, typer.Option(help="torch or onnxruntime (implies --optimize).")] = "torch",
    optimize: Annotated[
        bool, typer.Option("--optimize", help="Measure ca.optimize's inference path (BN folded, native precision).")
    ] = False,
    input_size: InputOption = None,
    warmup: Annotated[int, typer.Option(help="Untimed runs per batch size.")] = 2,
    repeats: Annotated[int, typer.Option(help="Timed runs per batch size (the median is reported).")] = 10,
    max_time: Annotated[
        float, typer.Option(help="Seconds per batch size after which repeats stop (3 timed runs at least).")
    ] = 10.0,
    as_json: JsonOption = False,
    sets: SetOption = None,
) -> None:
    """Measured latency, images/s, achieved GFLOP/s, peak memory and the matmul peak, on real tensors."""
    batches = parse_batches(batch)
    if warmup < 0 or repeats < 1:
        raise ConfigError("--warmup must be at least 0 and --repeats at least 1")
    size = parse_input(input_size)
    if sets:  # a template pattern, bound here; the input size is applied when bench builds it
        model = bind(resolve(model), **settings(sets))
    with progress_bar(f"benchmarking {model}", len(batches) * (max(warmup, 1) + repeats)) as advance:
        result = bench(model, input_size=size, batches=batches, threads=threads, channels_last=channels_last,
                       dtype=dtype, device=device, warmup=warmup, repeats=repeats, max_seconds=max_time,
                       runtime=runtime, optimize=optimize, on_run=advance)  # fmt: skip
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(_bench_table(result))
