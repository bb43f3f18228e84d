"""The model registry: names -> spec functions, metadata and weight-key maps."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convarch.errors import ConfigError, UnknownModelError
from convarch.spec.edit import check_num_classes, with_classifier, with_input
from convarch.spec.nodes import NetSpec
from convarch.zoo.info import ModelInfo

SpecFn = Callable[..., NetSpec]
KeyMap = Callable[[NetSpec], dict[str, str | None]]
"""Given our spec, the module-prefix table from another library's state-dict layout to ours (None: drop)."""
# Text a name filter can be: name characters and fnmatch's * ? [seq] [!seq]; nothing of the pattern language
# but brackets, which a filter needs too (a pattern that also matches a model name is not a useful pattern).
NAME_FILTER = re.compile(r"[A-Za-z0-9_.*?!\[\]-]+")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    spec_fn: SpecFn
    info: ModelInfo
    options: dict[str, Any] = field(default_factory=dict)  # fixed arguments of spec_fn for this name
    key_maps: dict[str, KeyMap] = field(default_factory=dict)  # "torchvision"/"timm" -> map
    init: str = "torch"  # the reference implementation's weight init (convarch.nn.init.SCHEMES)

    def spec(self, **options: Any) -> NetSpec:
        accepted = set(inspect.signature(self.spec_fn).parameters) - set(self.options)
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ConfigError(
                f"{self.name} does not take option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"it accepts: {', '.join(sorted(accepted)) or 'no options'}"
            )
        return self.spec_fn(**{**self.options, **options})


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add a model; a name can be registered once."""
    if entry.name in _REGISTRY:
        raise ConfigError(f"model {entry.name!r} is already registered; pick another name")
    _REGISTRY[entry.name] = entry
    return entry


def _ensure_loaded() -> None:
    import convarch.zoo.families  # noqa: F401  (registers every family on import)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    key = name.lower() if isinstance(name, str) else name
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = close_names(str(key), cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"unknown model {name!r}.{hint} `convarch list` shows every model.")


def _folded(name: str) -> str:
    """A name without case and separators: ``ResNet-50`` and ``resnet_50`` are ``resnet50``."""
    return re.sub(r"[\s_.-]", "", name.lower())


def close_names(name: str, *, cutoff: float = 0.75) -> list[str]:
    """Registered names close to ``name``, ignoring case and separators (``ResNet-50`` -> ``resnet50``)."""
    _ensure_loaded()
    folded = {_folded(n): n for n in sorted(_REGISTRY)}
    found = difflib.get_close_matches(_folded(name), list(folded), n=3, cutoff=cutoff)
    return [folded[f] for f in found]


def name_filter_matches(text: str) -> list[str]:
    """The models a shell-style name filter matches (``RESNET1*``, ``vgg1[69]``); [] for other text."""
    if not isinstance(text, str) or not NAME_FILTER.fullmatch(text.strip()):
        return []
    return list_models(text.strip())


def list_models(pattern: str = "*", *, pretrained: bool = False) -> list[str]:
    """Registered names matching a shell-style pattern such as ``resnet*``, sorted.

    ``pretrained=True`` keeps only the models with registered weights, as in ``timm.list_models``.
    """
    _ensure_loaded()
    names = sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern.lower()))
    if pretrained:
        from convarch.weights.sources import models_with_sources  # the weights package builds on the zoo

        with_weights = set(models_with_sources())
        names = [n for n in names if n in with_weights]
    return names


def model_info(name: str) -> ModelInfo:
    return get_entry(name).info


def spec_of(name: str, **options: Any) -> NetSpec:
    """The zoo model's spec at its default input size, 3 channels and its default classes."""
    return get_entry(name).spec(**options)


def model_spec(name: str, *, num_classes: int | None = None, in_chans: int | None = None, **options: Any) -> NetSpec:
    """The spec ``create_model`` builds: the zoo spec edited for classes and input channels."""
    entry = get_entry(name)
    spec = entry.spec(**options)
    if in_chans is not None:
        spec = with_input(spec, in_chans=in_chans)
    if num_classes is not None:
        spec = with_classifier(spec, check_num_classes(num_classes))
    return spec
