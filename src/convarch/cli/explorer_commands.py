"""``convarch report`` and ``convarch serve``: the architecture explorer's two pages."""

from __future__ import annotations

from typing import Annotated

import typer

from convarch.cli.app import app, err_console
from convarch.cli.options import InputOption, NumClassesOption, SetOption, keywords
from convarch.cli.pattern_commands import PatternArgument


@app.command("report")
def report_command(
    source: PatternArgument,
    out: Annotated[str, typer.Option("--out", help="The HTML file to write, e.g. report.html.")],
    input_size: InputOption = None,
    sets: SetOption = None,
    num_classes: NumClassesOption = None,
) -> None:
    """One self-contained HTML page: paper, figures, diagrams, per-layer table, findings and totals."""
    from convarch.analysis.output import output_path
    from convarch.explorer.report import write_report

    target = output_path(out, (".html", ".htm"), what="report")  # a bad path fails before the work
    written = write_report(source, target, **keywords(input_size, sets, num_classes, source=source))
    err_console.print(f"report written to {written}", highlight=False)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback is warned about.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8000,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Log every request to stderr.")] = False,
) -> None:
    """The live explorer: type a pattern or pick a model, and watch volumes, counts and findings respond."""
    from convarch.explorer.server import serve

    try:
        serve(host, port, open_browser=not no_browser, verbose=verbose)
    except OSError as error:  # the port is taken, or the address is not this machine's
        import errno
        import socket

        from convarch.errors import ConfigError

        if isinstance(error, socket.gaierror):  # a name that resolves to no address
            fix = "give an address of this machine (the default, 127.0.0.1, is the safe one)"
        elif error.errno == errno.EADDRINUSE:
            fix = "another program has the port: try --port 0 for a free one"
        else:
            fix = "give an address of this machine, or --port 0 for a free port"
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}; {fix}") from None
