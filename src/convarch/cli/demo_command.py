"""``convarch demo``: the main job on built-in data (``make demo``)."""

from __future__ import annotations

from convarch.cli.app import app, console
from convarch.cli.zoo_commands import zoo_table


@app.command("demo")
def demo_command() -> None:
    """Tour the zoo: every registered network with its year, size and cost."""
    console.print(zoo_table())
