"""Design sweeps: every instance of a template pattern, analysed.

``INPUT(32x32x3) -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC`` with ``N=1..3``, ``M=2..4``,
``K=0..2`` is 27 networks. The text is parsed once; each instance is bound and walked with integer
arithmetic, so hundreds of instances take well under a second. An instance whose volumes do not work out
is a result too (its error is the finding), not the end of the sweep.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from convarch.analysis.report import CONVENTIONS, analyze_spec
from convarch.errors import ConfigError, ConvarchError, advising
from convarch.spec.bind import BIND_OPTIONS, bind, variables_of
from convarch.spec.limits import MAX_DIM, MAX_LAYERS, MAX_REPEAT, expanded_size
from convarch.spec.nodes import NetSpec

MAX_INSTANCES = 100_000
# Layers walked over the whole sweep: hundreds of seed-pattern instances walk a few thousand; a million
# takes about a minute on 2 cores. Bigger sweeps are refused before the first instance, not left to hang.
MAX_SWEEP_LAYERS = 1_000_000
_RANGE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\d+)\s*\.\.\s*(\d+)\s*$")
_LIST = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\d+(?:\s*,\s*\d+)*)\s*$")


_WORDS = re.compile(r"^\s*(optional)\s*=\s*([a-z]+(?:\s*,\s*[a-z]+)*)\s*$", re.IGNORECASE)


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """``N=1..3`` -> ("N", [1, 2, 3]); ``N=1,2,4`` -> ("N", [1, 2, 4]); ``N=2`` -> ("N", [2]). A binding option
    is swept the same way and keeps its name, as ``build`` takes it: ``base_width=16,32``, ``optional=keep,drop``."""
    if match := _WORDS.match(text):
        return "optional", [v.strip().lower() for v in match[2].split(",")]
    if match := _RANGE.match(text):
        name, low, high = _name(match[1]), int(match[2]), int(match[3])
        if low > high:
            message = f"empty range in the setting {text!r}: {low} is above {high}; write it as {name}={high}..{low}"
            raise ConfigError(message)
        _check_top(text, name, high)  # before the list exists: N=1..10**24 must not be enumerated
        return name, list(range(low, high + 1))
    if match := _LIST.match(text):
        values = [int(v) for v in match[2].split(",")]
        _check_top(text, _name(match[1]), max(values))
        return _name(match[1]), values
    message = f"cannot read the setting {text!r}: write NAME=LOW..HIGH (N=1..3) or NAME=V1,V2,... (N=1,2,4)"
    raise advising(ConfigError(message), "set")


def _name(text: str) -> str:
    """Variables are upper case in patterns (``n`` is ``N``); binding options are ``bind``'s keywords."""
    return text.lower() if text.lower() in BIND_OPTIONS else text.upper()


def _check_top(text: str, name: str, top: int) -> None:
    limit, what = (MAX_DIM, "width") if name in BIND_OPTIONS else (MAX_REPEAT, "repeat")
    if top > limit:
        raise ConfigError(f"the setting {text!r}: {name} goes up to {top:,}, over the {what} limit of {limit:,}")


@dataclass
class Instance:
    """One bound network of the sweep and what the analysis found."""

    values: dict[str, int]
    params: int = 0
    macs: int = 0
    activations: int = 0
    forward_bytes: int = 0
    training_bytes: int = 0
    layers: int = 0
    error: str = ""  # the SizingError/ConfigError when the instance does not work out
    findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error

    def flat(self) -> dict[str, Any]:
        """One CSV line: variables, counts, and the findings as ``severity:rule`` joined by ``;``."""
        counts = {k: getattr(self, k) for k in ("params", "macs", "activations", "forward_bytes", "training_bytes")}
        findings = ";".join(f"{f['severity']}:{f['rule']}" for f in self.findings)
        return {**self.values, **counts, "layers": self.layers, "error": self.error, "findings": findings}


Checker = Callable[[NetSpec], list[Any]]


def sizing_checker() -> Checker | None:
    """``ca.check`` once the sizing rules exist (``convarch.analysis.rules``); None until then."""
    import convarch.api

    return getattr(convarch.api, "check", None)


def _finding(finding: Any) -> dict[str, str]:
    return {key: str(getattr(finding, key, "")) for key in ("severity", "rule", "layer", "message")}


def instances(settings: dict[str, list[int]]) -> Iterator[dict[str, int]]:
    names = list(settings)
    for values in itertools.product(*(settings[n] for n in names)):
        yield dict(zip(names, values, strict=True))


def sweep(
    spec: NetSpec,
    settings: dict[str, list[int]],
    *,
    input_size: tuple[int, int, int] | None = None,
    checker: Checker | None = None,
    on_instance: Callable[[Instance], None] | None = None,
    max_instances: int = MAX_INSTANCES,
    max_layers: int = MAX_SWEEP_LAYERS,
    **keywords: Any,
) -> list[Instance]:
    """Analyse every combination of the settings; ``checker`` adds sizing findings to each instance.

    ``max_instances`` and ``max_layers`` bound the work before the first instance: a caller that must
    answer quickly (the explorer's server) passes smaller limits than the command line's.
    """
    missing = sorted(variables_of(spec) - set(settings) - {k.upper() for k in keywords})
    if missing:
        message = f"the pattern uses {', '.join(missing)}; give each a range, e.g. {missing[0]}=1..3"
        raise advising(ConfigError(message), "set")
    unused = sorted(set(settings) - variables_of(spec) - set(BIND_OPTIONS))
    if unused:
        raise ConfigError(f"the pattern has no variable {', '.join(unused)}; it uses {sorted(variables_of(spec))}")
    total = 1
    for values in settings.values():
        total *= len(values)
    if total > max_instances:
        raise ConfigError(f"the settings give {total:,} instances, over the limit of {max_instances:,}; narrow them")
    layers = sum(min(expanded_size(spec.layers, values), MAX_LAYERS + 1) for values in instances(settings))
    if layers > max_layers:
        raise ConfigError(
            f"the {total:,} instances have {layers:,} layers in all, over the sweep limit of {max_layers:,}; "
            "narrow the ranges"
        )
    results = []
    for values in instances(settings):
        instance = Instance(values)
        try:
            bound = bind(spec, input_size=input_size, **keywords, **values)
            report = analyze_spec(bound, names=False)
            instance.params, instance.macs, instance.activations = report.params, report.macs, report.activations
            instance.forward_bytes, instance.training_bytes = report.forward_bytes, report.training_bytes()
            instance.layers = len(report.rows)
            if checker is not None:
                instance.findings = [_finding(f) for f in checker(bound)]
        except ConvarchError as error:
            instance.error = str(error).splitlines()[0]
        results.append(instance)
        if on_instance is not None:
            on_instance(instance)
    return results


def to_csv(results: list[Instance], pattern: str) -> str:
    buffer = io.StringIO()
    buffer.write(f"# sweep of {pattern}\n# conventions: {CONVENTIONS}\n")
    rows = [r.flat() for r in results]
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def to_json(results: list[Instance], pattern: str) -> str:
    instances_ = [
        {"values": r.values, **{k: v for k, v in r.flat().items() if k not in r.values and k != "findings"},
         "findings": r.findings}
        for r in results
    ]  # fmt: skip
    return json.dumps({"pattern": pattern, "conventions": CONVENTIONS, "instances": instances_}, indent=2)
