"""``convarch weights list|fetch``: the pretrained sources and the cache."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from convarch.api import is_model_name
from convarch.cli.app import app, console
from convarch.errors import UnknownModelError
from convarch.weights.download import cache_path, fetch, local_file
from convarch.weights.sources import DEFAULT_TAG, WeightSource, find_source, sources_for
from convarch.zoo.registry import get_entry, list_models, name_filter_matches

weights_app = typer.Typer(
    help="Pretrained weights: the registered sources, and fetching them into the cache.", rich_markup_mode=None
)
app.add_typer(weights_app, name="weights")


@weights_app.callback(invoke_without_command=True)
def weights_group(ctx: typer.Context) -> None:
    """Pretrained weights: the registered sources, and fetching them into the cache."""
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help(), highlight=False)


def sources_table(models: list[str]) -> Table:
    table = Table(title="pretrained weights", title_justify="left")
    for header in ("model", "source", "top-1/top-5", "preprocessing", "SHA-256", "cached", "URL"):
        table.add_column(header, overflow="fold")
    for model in models:
        for i, source in enumerate(sources_for(model)):
            aliases = (*source.aliases, DEFAULT_TAG) if i == 0 else source.aliases
            tags = source.tag + (f" ({', '.join(aliases)})" if aliases else "")
            table.add_row(model, tags, source.accuracy(), source.preprocess.describe(short=True), _hash_text(source),
                          "yes" if cache_path(source.url).is_file() else "no", source.url)  # fmt: skip
    return table


def _hash_text(source: WeightSource) -> str:
    if source.sha256 is None:
        return "not published"
    return source.sha256 if len(source.sha256) == 64 else f"{source.sha256}..."


@weights_app.command("list")
def list_command(
    model: Annotated[
        str | None, typer.Argument(help="A zoo model or a name filter ('resnet*'); all models with weights if omitted.")
    ] = None,
) -> None:
    """List the pretrained sources: tag, URL, hash, accuracy, preprocessing, and whether it is cached."""
    if model is None:
        models = list_models(pretrained=True)
    elif name_filter_matches(model) and not is_model_name(model):  # resnet*, VGG1[69], as `convarch list` reads them
        models = list_models(model.strip(), pretrained=True)
        if not models:
            raise UnknownModelError(f"no model with registered weights matches {model!r}; `convarch weights list` "
                                    "shows them all")  # fmt: skip
    else:
        name = get_entry(model).name
        find_source(name)  # a clear error when the model has no registered weights
        models = [name]
    console.print(sources_table(models))


@weights_app.command("fetch")
def fetch_command(
    model: Annotated[str, typer.Argument(help="A zoo model with registered weights.")],
    source: Annotated[str, typer.Option("--source", "-s", help="A source tag (see `weights list`).")] = DEFAULT_TAG,
) -> None:
    """Download a model's weights into the cache (verified against the published hash where there is one)."""
    name = get_entry(model).name
    chosen = find_source(name, source)
    cached = cache_path(chosen.url).is_file()
    path = fetch(chosen.url, sha256=chosen.sha256)  # a cached copy is verified against the hash too
    where = (
        "is a local file, read in place"
        if local_file(chosen.url)
        else "is already cached"
        if cached
        else "downloaded to"
    )
    console.print(f"{name} ({chosen.tag}) {where}: {path}")
