"""``convarch export``: a zoo model, a pattern or a checkpoint to ONNX, a torch.export program or a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convarch.cli.app import app, console
from convarch.cli.options import SetOption, pattern_argument, template_settings
from convarch.deploy.export import export, format_for
from convarch.deploy.onnx_export import check_destination
from convarch.deploy.source import model_for_export

LOADERS = {
    "onnx": "onnxruntime.InferenceSession({path!r})",
    "pt2": "torch.export.load({path!r}).module()",
    "safetensors": "ca.load({path!r})",
}


@app.command("export")
def export_command(
    source: Annotated[
        str,
        pattern_argument("A zoo model name, pattern text in quotes, or a convarch checkpoint."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The file to write: .onnx, .pt2 or .safetensors.")],
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="A source tag, a weights file or a URL [default: none].")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="onnx, pt2 or safetensors, for a file whose suffix names none.")
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Classes of the exported model; default: a convarch checkpoint's own.")
    ] = None,
    in_chans: Annotated[int | None, typer.Option(help="Input channels of the exported model.")] = None,
    opset: Annotated[int | None, typer.Option(help="ONNX opset [default: the exporter's].")] = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch/--static-batch", help="A free batch dimension (ONNX and pt2).")
    ] = True,
    sets: SetOption = None,
) -> None:
    """Export a model for deployment; ONNX and pt2 files are checked against PyTorch before they appear."""
    chosen = format_for(out, format)  # a wrong suffix or format fails before any work
    check_destination(out)
    bindings = template_settings(source, sets)
    exported = model_for_export(source, weights=weights, num_classes=num_classes, in_chans=in_chans, out=out,
                                bindings=bindings)  # fmt: skip
    result = export(exported.model, out, format=chosen, dynamic_batch=dynamic_batch, opset=opset)
    classes = (
        f", keeping its {exported.kept_classes} classes (--num-classes changes them)" if exported.kept_classes else ""
    )
    console.print(f"{result.describe()}: {exported.label}{classes}", highlight=False, soft_wrap=True)
    console.print(f"load it with {LOADERS[result.format].format(path=str(result.path))}", highlight=False,
                  soft_wrap=True)  # fmt: skip
