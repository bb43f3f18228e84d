"""The keywords that bind a template: template variables (``N=2``) and the binding options.

``bind`` accepts any keyword as a variable, so a misspelt or unused one would be silently ignored;
``check_keywords`` refuses it with the pattern's real variables and the closest name.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from convarch.errors import ConfigError
from convarch.spec.bind import bind, variables_of
from convarch.spec.nodes import NetSpec


def bind_options() -> tuple[str, ...]:
    """The keyword options of ``bind`` other than the input size and classes (``base_width``, ...)."""
    skip = {"spec", "input_size", "num_classes"}
    return tuple(
        name
        for name, p in inspect.signature(bind).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in skip
    )


def check_keywords(spec: NetSpec, keywords: dict[str, Any]) -> None:
    """Refuse a keyword that is neither a variable of ``spec`` nor a binding option."""
    variables = sorted(variables_of(spec))
    options = bind_options()
    for key in keywords:
        if key in options or key.upper() in variables:
            continue
        close = difflib.get_close_matches(key.upper(), variables, n=1) or difflib.get_close_matches(key, options, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        have = f"its variables are {', '.join(variables)}" if variables else "it has no template variables"
        raise ConfigError(
            f"{key!r} is not a template variable of this pattern ({have}) nor a binding option "
            f"({', '.join(options)}).{hint}"
        )
