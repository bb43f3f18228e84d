"""The model registry: a family declares its shared facts once, and each variant is a decorated function.

    RESNET = Family("resnet", PAPER, ilsvrc=ILSVRC, init=HE, key_maps={"torchvision": torchvision_keys})

    @RESNET.model(**torchvision_figures(25_557_032, 4.089, 76.130, 92.862), weights=Torchvision(...))
    def resnet50(**options: Unpack[ResNetOptions]) -> NetSpec:
        return resnet(50, **options)

The function is the model: its name is the zoo name (``grep "def resnet50"`` finds it), calling it gives the
spec, and its parameters are the options ``create_model`` accepts, named one by one or as a ``TypedDict``
(PEP 692). The decorator's keywords are the variant's published figures (``ModelInfo`` fields), its weight
sources and, where the variant differs from its family, the family facts it overrides.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from convarch.errors import ConfigError, UnknownModelError
from convarch.nn.init import TORCH, InitScheme
from convarch.spec.edit import check_num_classes, with_classifier, with_input
from convarch.spec.nodes import NetSpec
from convarch.zoo.info import ModelInfo, Paper

if TYPE_CHECKING:
    from convarch.weights.sources import WeightSource

SpecFn = Callable[..., NetSpec]
KeyMap = Callable[[NetSpec], dict[str, str | None]]
"""Given our spec, the module-prefix table from another library's state-dict layout to ours (None: drop)."""
# Text a name filter can be: name characters and fnmatch's * ? [seq] [!seq]; nothing of the pattern language
# but brackets, which a filter needs too (a pattern that also matches a model name is not a useful pattern).
NAME_FILTER = re.compile(r"[A-Za-z0-9_.*?!\[\]-]+")


class ClassOptions(TypedDict, total=False):
    """The options of a variant that takes nothing but its number of classes."""

    num_classes: int


class WeightFacts(Protocol):
    """A publisher's facts about a variant's weight files (``convarch.weights.catalog``), made into sources
    once the variant's name and metadata are known."""

    def sources(self, model: str, info: ModelInfo) -> Sequence[WeightSource]: ...


@functools.cache
def accepted_options(fn: SpecFn) -> tuple[str, ...]:
    """The keyword options a spec function takes: its named parameters and the keys of an ``Unpack``-ed
    ``TypedDict`` on its ``**options``."""
    names = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind is not param.VAR_KEYWORD:
            names.append(param.name)
            continue
        hint = typing.get_type_hints(fn).get(param.name)
        if typing.get_origin(hint) is typing.Unpack:
            names += list(typing.get_type_hints(typing.get_args(hint)[0]))
    return tuple(sorted(names))


@dataclass(frozen=True)
class ModelEntry:
    name: str
    spec_fn: SpecFn
    info: ModelInfo
    key_maps: Mapping[str, KeyMap] = field(default_factory=dict)  # "torchvision"/"timm" -> map
    init: InitScheme = TORCH  # the reference implementation's weight init (convarch.nn.init)
    weights: tuple[WeightSource, ...] = ()  # its published weight files, the default first
    upstream: Mapping[str, str] = field(default_factory=dict)  # layout -> the model's name there, if not ours

    def spec(self, **options: Any) -> NetSpec:
        self.check_options(options)
        return self.spec_fn(**options)

    def check_options(self, options: Mapping[str, Any], also: Sequence[str] = ()) -> None:
        """Refuse an option the family does not take, listing every one the caller accepts: ``also`` names the
        caller's own (``create_model``'s ``in_chans``, ``weights``, ...), which the message must not leave out."""
        accepted = list(dict.fromkeys([*accepted_options(self.spec_fn), *also]))
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            close = difflib.get_close_matches(unknown[0], accepted, n=1)
            raise ConfigError(
                f"{self.name} does not take option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"it accepts: {', '.join(accepted) or 'no options'}" + (f". Did you mean {close[0]}?" if close else "")
            )


@dataclass(frozen=True)
class Family:
    """What every variant of a family shares, declared once: the paper, the ILSVRC result, the reference's
    weight init, the key maps from other libraries' state dicts, the deviations all its variants share, and
    the default input and classes."""

    name: str
    paper: Paper
    ilsvrc: str | None = None
    init: InitScheme = TORCH
    key_maps: Mapping[str, KeyMap] = field(default_factory=dict)
    deviations: tuple[str, ...] = ()  # a variant's own deviations follow these
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000

    def model(
        self,
        *,
        weights: WeightFacts | Sequence[WeightFacts] = (),
        upstream: Mapping[str, str] | None = None,
        deviations: tuple[str, ...] = (),
        **facts: Any,
    ) -> Callable[[SpecFn], SpecFn]:
        """Register the decorated spec function as the model it is named after.

        ``facts`` are the variant's ``ModelInfo`` fields (``params``, ``gmacs``, ``notes``, ...) and any family
        field it overrides (``key_maps={}`` for a variant no library publishes). ``upstream`` names the model
        in a key map's library where the name differs from ours (``{"timm": "resnetv2_50"}``).
        """
        own = {f.name for f in dataclasses.fields(Family)} - {"name", "deviations"}
        family = dataclasses.replace(self, **{k: v for k, v in facts.items() if k in own})
        details = {k: v for k, v in facts.items() if k not in own}
        publishers = [weights] if hasattr(weights, "sources") else list(weights)  # type: ignore[arg-type]

        def register_variant(fn: SpecFn) -> SpecFn:
            info = ModelInfo(
                name=fn.__name__,
                family=family.name,
                paper=family.paper,
                ilsvrc=family.ilsvrc,
                input_size=family.input_size,
                num_classes=family.num_classes,
                deviations=(*family.deviations, *deviations),
                **details,
            )
            sources = tuple(s for publisher in publishers for s in publisher.sources(fn.__name__, info))
            register(ModelEntry(fn.__name__, fn, info, family.key_maps, family.init, sources, dict(upstream or {})))
            return fn

        return register_variant


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add a model; a name can be registered once."""
    if entry.name in _REGISTRY:
        raise ConfigError(f"model {entry.name!r} is already registered; pick another name")
    _REGISTRY[entry.name] = entry
    return entry


def _ensure_loaded() -> None:
    import convarch.zoo.families  # noqa: F401  (registers every family on import)


def entries() -> Iterator[ModelEntry]:
    """Every registered model, in registration order."""
    _ensure_loaded()
    return iter(list(_REGISTRY.values()))


def is_model(name: object) -> bool:
    """Whether ``name`` is a registered zoo name (case and surrounding spaces aside)."""
    _ensure_loaded()
    return isinstance(name, str) and name.strip().lower() in _REGISTRY


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    key = name.lower() if isinstance(name, str) else name
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = close_names(str(key), cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"unknown model {shown_name(name)}.{hint} `convarch list` shows every model.")


def shown_name(name: object, limit: int = 60) -> str:
    """``name`` quoted for a message, cut to ``limit`` characters: an error never echoes unbounded input."""
    text = str(name)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


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
