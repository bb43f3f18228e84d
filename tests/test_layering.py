"""Dependencies point one way (shared/DESIGN.md): the CLI sits on top of the library, never under it."""

from __future__ import annotations

import subprocess
import sys


def test_the_library_and_the_explorer_server_load_without_the_command_line_package() -> None:
    code = (
        "import sys, convarch, convarch.explorer.endpoints, convarch.explorer.server, convarch.deploy, convarch.draw\n"
        "print(sorted(m for m in sys.modules if m == 'typer' or m.startswith('convarch.cli')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
