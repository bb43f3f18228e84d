"""The explorer's JSON API, independent of HTTP: a query in, an ``Answer`` out.

Every endpoint reads its query, calls the public API (``ca.analyze``, ``ca.check``, ``ca.draw``, the sweep
and the comparison) and serialises what it returns. There is no analysis here and none in the page: the
numbers a script gets from ``/api/analyze`` are ``Report.to_json``'s, byte for byte.

A ``ConvarchError`` becomes a 4xx answer carrying its type and message (a ``PatternError`` also its line,
column and caret excerpt), so the page can show it where the user typed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from convarch.analysis.compare import SEED_LINEUP, compare
from convarch.analysis.sweep import parse_setting, sizing_checker, sweep
from convarch.analysis.sweep import to_json as sweep_json
from convarch.api import analyze, check, resolve, to_pattern
from convarch.errors import ConfigError, ConvarchError, PatternError, SizingError, UnknownModelError
from convarch.explorer.diagrams import draw_svg
from convarch.spec.bind import variables_of
from convarch.spec.limits import MAX_DEPTH, MAX_DIM, expanded_size
from convarch.spec.settings_text import input_size as parse_input
from convarch.spec.settings_text import settings as parse_settings
from convarch.zoo import list_models, model_info
from convarch.zoo.registry import shown_name

# The server answers while the user types, so its work per request is bounded well below the command line's.
MAX_SWEEP_INSTANCES = 256
MAX_SWEEP_LAYERS = 50_000
MAX_COMPARE_MODELS = 16
MAX_DRAW_LAYERS = 2_000  # the zoo's longest net, DenseNet-201, has 698 layers
MAX_MESSAGE = 2_000  # characters of an error's message or excerpt: no answer echoes unbounded input
# Query keys with a meaning of their own; every other key binds a template variable or option (N=2).
RESERVED = frozenset({"pattern", "model", "input", "num_classes", "style", "at", "depth", "models"})

Query = dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    headers: tuple[tuple[str, str], ...] = ()  # beyond the ones every answer carries (Allow on a 405)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Answer:
        return cls(status, "application/json", json.dumps(payload).encode())

    @classmethod
    def text(cls, text: str, content_type: str) -> Answer:
        return cls(200, content_type, text.encode())


def error_answer(error: ConvarchError) -> Answer:
    """A user's mistake as 4xx JSON: ``{"error": {"type", "message", ...}}``."""
    return Answer.json(_detail(error), 404 if isinstance(error, UnknownModelError) else 422)


def _detail(error: ConvarchError) -> dict[str, Any]:
    detail: dict[str, Any] = {"type": type(error).__name__, "message": _bounded(str(error))}
    if isinstance(error, PatternError):
        detail.update(reason=_bounded(error.reason), line=error.line, column=error.column,
                      excerpt=_bounded(error.excerpt))  # fmt: skip
    elif isinstance(error, SizingError):
        detail.update(reason=error.reason, layer=error.layer)
    return {"error": detail}


def _bounded(text: str) -> str:
    """A last guard: the library bounds what its messages quote, and this keeps any answer small if one doesn't."""
    return text if len(text) <= MAX_MESSAGE else f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE:,} characters cut)"


# ---- reading a query ------------------------------------------------------------------------------


def source_of(query: Query) -> str:
    """The zoo name (``model=``) or the pattern text (``pattern=``): exactly one of them."""
    pattern, model = query.get("pattern"), query.get("model")
    if (pattern is None) == (model is None):
        raise ConfigError("give either pattern=TEXT or model=NAME (GET /api/models lists the names)")
    if model is not None:
        return model_info(model).name  # an unknown name raises UnknownModelError with the closest names
    return pattern or ""


def keywords_of(query: Query) -> dict[str, Any]:
    """``input=32x32x3``, ``num_classes=10`` and template bindings (``N=2``) as ``ca.analyze`` keywords."""
    empty = sorted(k for k, v in query.items() if k not in RESERVED and not v.strip())
    if empty:
        raise ConfigError(f"{', '.join(empty)} has no value: give a whole number, such as {empty[0]}=2")
    found = parse_settings([f"{k}={v}" for k, v in query.items() if k not in RESERVED], option="a binding")
    size = parse_input(query["input"], option="input") if query.get("input") else None
    if size is not None:
        found["input_size"] = size
    if "num_classes" in query:  # 0 removes the classifier, as in ca.analyze
        found["num_classes"] = _whole(query, "num_classes", MAX_DIM)
    return found


def _whole(query: Query, key: str, limit: int) -> int:
    text = query[key]
    if not (text.isascii() and text.isdigit()):
        raise ConfigError(f"{key} must be a whole number, got {shown_name(text)}")
    if len(text) > len(str(limit)) or int(text) > limit:
        raise ConfigError(f"{key} is too large: {shown_name(text)}; the limit is {limit:,}")
    return int(text)


# ---- the endpoints --------------------------------------------------------------------------------


def models(query: Query) -> Answer:
    """Every zoo model with its family, year and default input, for the page's picker."""
    rows = []
    for name in list_models():
        info = model_info(name)
        c, h, w = info.input_size
        rows.append({"name": name, "family": info.family, "year": info.year, "input": f"{h}x{w}x{c}"})
    return Answer.json({"models": rows})


def info(query: Query) -> Answer:
    """A zoo model's paper, published figures and deviations (``ModelInfo.to_dict``)."""
    if "model" not in query:  # a pattern has no paper
        raise ConfigError("info describes a zoo model: give model=NAME (GET /api/models lists the names)")
    return Answer.json(model_info(query["model"]).to_dict())


def variables(query: Query) -> Answer:
    """The template variables the source uses, so the page can offer a slider for each.

    The page asks this on every pause in typing, before anything else, and most of what it sends then is
    half-typed: a text that does not read is an answer here (200, with the error), not a failed request.
    """
    try:
        text = source_of(query)
        spec = resolve(text)
    except ConvarchError as error:
        return Answer(200, "application/json", json.dumps({"variables": [], "input": None, **_detail(error)}).encode())
    volume = str(spec.input) if spec.input is not None else None
    return Answer.json(
        {"variables": sorted(variables_of(spec), key=lambda name: _first_use(text, name)), "input": volume}
    )


def _first_use(text: str, name: str) -> tuple[int, str]:
    """Where the pattern first repeats by ``name`` (``*N``), so the sliders follow the text: N, M, K."""
    found = re.search(rf"\*\s*{name}\b", text, re.IGNORECASE)
    return (found.start() if found else len(text), name)


def pattern(query: Query) -> Answer:
    """The source as canonical pattern text, a starting point to edit a zoo model in the page."""
    return Answer.json({"pattern": to_pattern(source_of(query))})


def analyze_endpoint(query: Query) -> Answer:
    report = analyze(source_of(query), **keywords_of(query))
    return Answer.text(report.to_json(indent=None), "application/json")


def check_endpoint(query: Query) -> Answer:
    findings = check(source_of(query), **keywords_of(query))
    return Answer.json({"findings": [asdict(f) for f in findings]})


def draw_endpoint(query: Query) -> Answer:
    depth = _whole(query, "depth", MAX_DEPTH) if query.get("depth") else None
    source, keywords = source_of(query), keywords_of(query)
    layers = expanded_size(resolve(source).layers, {k.upper(): v for k, v in keywords.items() if isinstance(v, int)})
    if layers > MAX_DRAW_LAYERS:  # the parser allows 10,000 layers, whose figure takes seconds to lay out
        raise ConfigError(f"the page draws networks of up to {MAX_DRAW_LAYERS:,} layers; this one has {layers:,}. "
                          "`convarch draw` draws it to a file")  # fmt: skip
    svg = draw_svg(source, style=query.get("style", "volumes"), at=query.get("at") or None, depth=depth, **keywords)
    return Answer.text(svg, "image/svg+xml")


def _sweep(query: Query) -> tuple[str, list[Any]]:
    pattern = source_of(query)
    ranges: dict[str, list[int]] = {}  # N=2 is a range of one value
    for key, value in query.items():
        if key in RESERVED:
            continue
        name, values = parse_setting(f"{key}={value}")
        ranges[name] = values
    if not ranges:
        raise ConfigError("a sweep needs at least one range, such as N=1..3")
    size = parse_input(query["input"], option="input") if query.get("input") else None
    results = sweep(resolve(pattern), ranges, input_size=size, checker=sizing_checker(),
                    max_instances=MAX_SWEEP_INSTANCES, max_layers=MAX_SWEEP_LAYERS)  # fmt: skip
    return pattern, results


def sweep_endpoint(query: Query) -> Answer:
    pattern, results = _sweep(query)
    return Answer.text(sweep_json(results, pattern), "application/json")


def sweep_chart_endpoint(query: Query) -> Answer:
    from convarch.viz.charts import sweep_figure

    pattern, results = _sweep(query)
    return Answer.text(_chart(lambda: sweep_figure(results, pattern)), "image/svg+xml")


def _compared(query: Query) -> list[Any]:
    names = [n.strip() for n in query.get("models", "").split(",") if n.strip()] or list(SEED_LINEUP)
    if len(names) > MAX_COMPARE_MODELS:
        raise ConfigError(f"compare at most {MAX_COMPARE_MODELS} models at once, got {len(names)}")
    for name in names:
        model_info(name)  # only zoo names: a pattern has no published accuracy to plot
    size = parse_input(query["input"], option="input") if query.get("input") else None
    return compare(names, input_size=size)


def compare_endpoint(query: Query) -> Answer:
    from convarch.analysis.report import CONVENTIONS

    rows = _compared(query)
    return Answer.json({"conventions": CONVENTIONS, "models": [row.to_dict() for row in rows]})


def compare_chart_endpoint(query: Query) -> Answer:
    from convarch.viz.charts import complexity_figure

    rows = _compared(query)
    if not any(row.top1 is not None for row in rows):  # said here in the API's words, not the command line's
        names = ", ".join(row.name for row in rows)
        raise ConfigError(f"no published top-1 accuracy for {names}, so the chart would be empty; choose zoo models "
                          "with a published top-1 (GET /api/info?model=NAME shows a model's figures)")  # fmt: skip
    return Answer.text(_chart(lambda: complexity_figure(rows)[0]), "image/svg+xml")


# matplotlib's object API keeps global state (font cache, rcParams): one chart at a time.
_CHART_LOCK = threading.Lock()


def _chart(make: Callable[[], Any]) -> str:
    from convarch.viz.save import figure_svg

    with _CHART_LOCK:
        return figure_svg(make())


ENDPOINTS: dict[str, Callable[[Query], Answer]] = {
    "/api/models": models,
    "/api/info": info,
    "/api/variables": variables,
    "/api/pattern": pattern,
    "/api/analyze": analyze_endpoint,
    "/api/check": check_endpoint,
    "/api/draw": draw_endpoint,
    "/api/sweep": sweep_endpoint,
    "/api/sweep.svg": sweep_chart_endpoint,
    "/api/compare": compare_endpoint,
    "/api/compare.svg": compare_chart_endpoint,
}


def answer(path: str, query: Query) -> Answer | None:
    """The endpoint's answer, a 4xx for a user's mistake, or None when ``path`` is not an endpoint."""
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        return None
    try:
        return endpoint(query)
    except ConvarchError as error:
        return error_answer(error)
    except RecursionError:  # the parser bounds nesting; this is a last guard, not an expected path
        return error_answer(ConfigError("the input is nested too deeply to analyse"))


__all__ = ["ENDPOINTS", "Answer", "answer", "error_answer"]
