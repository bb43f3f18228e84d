"""The public API: build, read, check and measure networks by name, pattern text or spec."""

from __future__ import annotations

import os
import re
from typing import Any

import torch
from torch import nn

from convarch.analysis.findings import Finding
from convarch.analysis.modules import analyze_module
from convarch.analysis.report import Report, analyze_spec
from convarch.analysis.rules import check_network
from convarch.errors import ConfigError, PatternError, SizingError, UnknownModelError, WeightsError
from convarch.nn.features import FeatureExtractor, StageIndices
from convarch.nn.init import initialize
from convarch.nn.model import ConvNet
from convarch.pattern.parser import parse
from convarch.pattern.printer import to_pattern_text
from convarch.spec.bind import bind, check_names, is_template
from convarch.spec.edit import with_classifier, with_input
from convarch.spec.limits import MAX_BUILD_PARAMS
from convarch.spec.nodes import NetSpec
from convarch.spec.volume import Volume
from convarch.spec.walk import trace
from convarch.zoo.registry import close_names, get_entry, is_model, model_spec, name_filter_matches

Source = str | NetSpec
MAX_NAME = 200  # characters: longer text is never read as a zoo name or a name filter


def is_model_name(text: str) -> bool:
    return is_model(text)


def resolve(source: Source) -> NetSpec:
    """A spec from a zoo name, pattern text or a spec: wherever a name is accepted, a pattern is too."""
    if isinstance(source, NetSpec):
        return source
    if isinstance(source, ConvNet):
        return source.spec
    if not isinstance(source, str):
        raise ConfigError(f"expected a model name, pattern text or spec, got {type(source).__name__}")
    if is_model_name(source):
        return get_entry(source.strip()).spec()
    try:
        return parse(source)
    except PatternError:
        text = source.strip()
        if len(text) > MAX_NAME:  # no name or name filter is this long: the parser's error (too long, ...) stands
            raise
        # A name (any case, with separators: ResNet-50) close to a model's is a misspelt model, not a layer.
        if re.fullmatch(r"[a-z][a-z0-9_.-]*", text) or (re.fullmatch(r"[A-Za-z][\w.-]*", text) and close_names(text)):
            get_entry(text)  # raises UnknownModelError with the closest names
        matches = name_filter_matches(text)
        if matches or re.fullmatch(r"[a-z0-9_.!-]*[*?[][a-z0-9_.*?!\[\]-]*", text):  # resnet*, vgg1[69]
            found = f"it matches {', '.join(matches[:5])}{', ...' if len(matches) > 5 else ''}" if matches else (
                "it matches no model")  # fmt: skip
            raise UnknownModelError(
                f"{text!r} is a name pattern, not one model ({found}); `convarch list '{text}'` or "
                f"ca.list_models({text!r}) lists them"
            ) from None
        raise


CREATE_MODEL_OPTIONS = ("num_classes", "in_chans", "weights", "pretrained", "features_only", "out_indices")


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | os.PathLike | None = None,
    pretrained: bool = False,
    features_only: bool = False,
    out_indices: StageIndices = None,
    **options: Any,
) -> ConvNet | FeatureExtractor:
    """Build a zoo model, like ``timm.create_model``.

    ``num_classes`` replaces the classifier (0 removes it: the model returns pooled features);
    ``in_chans`` sets the input channels; ``options`` are the family's own arguments (``dropout``, ...).
    ``weights`` loads pretrained weights: a source tag (``"imagenet"``, ``"torchvision"``, ``"timm"``; see
    ``convarch weights list``), a ``.safetensors``/``.pth`` file, or an ``http(s)://`` or ``file://`` URL,
    in our layout, torchvision's or timm's. The first conv and the heads adapt to ``in_chans`` and
    ``num_classes``; ``model.pretrained_cfg`` and ``transforms_for(model)`` give the matching preprocessing.
    ``pretrained=True`` is timm's spelling of ``weights="imagenet"``, the model's default source.
    ``features_only=True`` returns a ``FeatureExtractor`` whose forward gives the feature maps at the ends of
    the stages ``out_indices`` selects (see ``ConvNet.forward_intermediates``), as timm's option does.
    """
    if pretrained:
        if not is_model_name(name):
            raise WeightsError(
                "pretrained=True loads a zoo model's published weights, and a network built from pattern text has "
                "none: pass weights= a file or URL trained from this pattern, or name a zoo model"
            )
        if weights is not None:
            raise ConfigError(f"give either weights={weights!r} or pretrained=True, not both")
        weights = "imagenet"
    if out_indices is not None and not features_only:
        raise ConfigError("out_indices selects the stages of a feature extractor: add features_only=True")
    if not is_model_name(name):  # pattern text (or a spec): bound as ``build`` binds it
        model = _create_from_pattern(name, num_classes=num_classes, in_chans=in_chans, weights=weights, **options)
    elif weights is not None:
        get_entry(name).check_options(options, also=CREATE_MODEL_OPTIONS)  # the message lists these too
        check_buildable(model_spec(name, num_classes=num_classes, in_chans=in_chans, **options))
        from convarch.weights.pretrained import create_with_weights

        model = create_with_weights(name, weights, num_classes=num_classes, in_chans=in_chans, **options)
    else:
        get_entry(name).check_options(options, also=CREATE_MODEL_OPTIONS)
        spec = model_spec(name, num_classes=num_classes, in_chans=in_chans, **options)
        check_buildable(spec)  # num_classes=10**9 would otherwise ask the allocator for 336 GB
        entry = get_entry(name)
        model = initialize(ConvNet(spec, pretrained_cfg={"architecture": entry.name}), entry.init)
    if features_only:
        return FeatureExtractor(model.features, model.spec, model.feature_info, out_indices, model.pretrained_cfg)
    return model


def _create_from_pattern(
    source: Source, *, num_classes: int | None, in_chans: int | None, weights: str | os.PathLike | None, **keywords: Any
) -> ConvNet:
    """``create_model`` on pattern text: ``build``'s binding, then ``in_chans`` and weights as for a zoo name.

    Weights come from a file or URL in convarch's layout (a checkpoint trained from this pattern); with
    ``num_classes`` its classifier is left out and the new one starts fresh, as for a zoo model.
    """
    check_names(resolve(source), keywords, also=(*CREATE_MODEL_OPTIONS, "input_size"))  # listing every keyword
    size = keywords.get("input_size")
    if in_chans is not None and size is not None and Volume.of(size).c != in_chans:
        raise ConfigError(f"in_chans={in_chans} contradicts input_size={size!r}; give one of them")
    as_saved = bind(resolve(source), **keywords)
    if in_chans is not None:
        as_saved = with_input(as_saved, in_chans=in_chans)
    spec = with_classifier(as_saved, num_classes) if num_classes is not None else as_saved
    check_buildable(spec)
    if weights is None:
        return ConvNet(spec)
    from convarch.weights.pretrained import load_weights

    with torch.device("meta"):
        model = ConvNet(spec)
    load_weights(model, weights, key_spec=as_saved)
    return model


def build(
    source: Source,
    *,
    input_size: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    **keywords: Any,
) -> ConvNet:
    """Build a network from pattern text, a spec or a zoo name.

    ``input_size`` (C, H, W) and ``num_classes`` fill a bare INPUT and the final FC (and win over the
    text); every other keyword binds a template variable (``N=2``) or sets a template default
    (``base_width``, ``hidden_width``, ``max_width``, ``optional``); see ``convarch.spec.bind``.
    """
    spec = bind(resolve(source), input_size=input_size, num_classes=num_classes, **keywords)
    check_buildable(spec)
    model = ConvNet(spec)
    if isinstance(source, str) and is_model_name(source):  # a zoo name starts from its reference's init
        initialize(model, get_entry(source.strip()).init)
    return model


def check_buildable(spec: NetSpec) -> None:
    """Refuse, before allocating anything, a network whose parameters would not fit in memory."""
    total = sum(step.layer.params(step.input) for step in trace(spec))
    if total > MAX_BUILD_PARAMS:
        raise SizingError(
            f"this network would have {total:,} parameters ({total * 4 / 1e9:,.1f} GB as float32), over the "
            f"build limit of {MAX_BUILD_PARAMS:,}. Use a smaller input, fewer or narrower layers, or GAP "
            "before the first FC."
        )


def analyze(source: Source | nn.Module, input_size: tuple[int, int, int] | None = None, **keywords: Any) -> Report:
    """Per-layer volumes, params, MACs and memory of a zoo name, pattern text, spec or module.

    A name, text, spec or convarch-built model is walked with integer arithmetic: no modules, no tensors,
    the same cost at any resolution. Template patterns take the same keywords as ``build``. Any other
    ``nn.Module`` runs once on the meta device with hooks (``input_size`` defaults to 3x224x224).
    """
    if isinstance(source, nn.Module) and not isinstance(source, ConvNet):
        if keywords:
            raise ConfigError(f"a module takes only input_size, not {', '.join(sorted(keywords))}")
        return analyze_module(source, input_size or (3, 224, 224))
    spec, volume, title = bound_spec(source, input_size, **keywords)
    return analyze_spec(spec, volume, title=title)


def bound_spec(
    source: Source, input_size: tuple[int, int, int] | None = None, **keywords: Any
) -> tuple[NetSpec, Volume | None, str]:
    """The concrete spec every reader of ``source`` walks, the input volume to walk it on, and its title.

    ``analyze`` and ``draw`` share it, so they accept and refuse the same things with the same errors.
    """
    spec = resolve(source)
    title = source if isinstance(source, str) and is_model_name(source) else ""
    if isinstance(source, ConvNet):
        title = source.pretrained_cfg.get("architecture", "")
    if keywords or spec.input is None or is_template(spec.layers):
        return bind(spec, input_size=input_size, **keywords), None, title
    # A concrete spec needs no binding: one walk, which also reports a volume that does not work out.
    return spec, Volume.of(input_size) if input_size is not None else None, title


def check(
    source: Source,
    *,
    input_size: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    **keywords: Any,
) -> list[Finding]:
    """Sizing findings for a zoo name, pattern text or spec, bound with the same keywords as ``build``.

    Each ``Finding(severity, rule, layer, message)`` shows the arithmetic and a fix; the rules are listed in
    ``convarch.analysis.findings.RULES`` and docs/pattern-language.md. A volume that does not work out is an
    ``error`` finding, not an exception; a syntax error is still a ``PatternError``.
    """
    spec = resolve(source)
    features = isinstance(source, ConvNet) and source.num_classes == 0  # built without a classifier
    return check_network(spec, input_size=input_size, num_classes=num_classes, scores=not features, **keywords)


def to_pattern(source: Source | nn.Module) -> str:
    """Canonical pattern text of a zoo name, a spec, a built model, or pattern text (normalised)."""
    if isinstance(source, nn.Module):
        if not isinstance(source, ConvNet):
            raise ConfigError(
                f"{type(source).__name__} has no spec, so it has no pattern; build it with convarch "
                "(create_model or build) to get one"
            )
        return to_pattern_text(source.spec)
    return to_pattern_text(resolve(source))


__all__ = [
    "analyze",
    "bound_spec",
    "build",
    "check",
    "check_buildable",
    "create_model",
    "is_model_name",
    "parse",
    "resolve",
    "to_pattern",
]
