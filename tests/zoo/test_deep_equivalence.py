"""timm's state dicts (random weights) load into ours through the "timm" key map and give the same outputs;
torchvision's GoogLeNet does too with its auxiliary classifiers. (Plain torchvision models: the generated
test_equivalence_torchvision.py.)"""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from timm.models.resnetv2 import PreActBasic, PreActBottleneck

import convarch as ca
from convarch.zoo.keymaps import from_layout
from convarch.zoo.registry import get_entry

TIMM_MODELS = [n for n in ca.list_models() if "timm" in get_entry(n).key_maps]
# The smallest inputs the nets take (Inception-v4's valid convs need 75) keep this fast.
INPUT_SIZE = {"inception_v4": 75, "inception_resnet_v2": 75}


def _scramble_batch_norm(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so a BN loaded into the wrong place shows in the output."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)


def _tame_residuals(model: torch.nn.Module) -> None:
    """Scale down each pre-activation unit's last conv. Summed over 50 identity-connected units, random
    residuals grow resnetv2_152's logits to ~1e5, where float32 steps are ~1e-2 and comparing to 1e-5 is
    meaningless; at 0.1 the logits stay below 1 and every weight still matters."""
    with torch.no_grad():
        for unit in model.modules():
            if isinstance(unit, PreActBottleneck | PreActBasic):
                (unit.conv3 if isinstance(unit, PreActBottleneck) else unit.conv2).weight.mul_(0.1)


def _load_ours(name: str, state: dict, layout: str, **options) -> torch.nn.Module:
    with torch.device("meta"):  # no time spent initialising weights that are overwritten
        ours = ca.create_model(name, num_classes=10, **options).eval()
    result = ours.load_state_dict(from_layout(name, state, layout, ours.spec), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ours


def _timm_name(name: str) -> str:
    return get_entry(name).upstream.get("timm", name)


def test_every_timm_model_of_the_issue_has_a_key_map() -> None:
    preact = {f"preact_resnet{depth}": f"resnetv2_{depth}" for depth in (18, 34, 50, 101, 152)}
    assert {"inception_v4", "inception_resnet_v2", *preact} <= set(TIMM_MODELS)
    assert all(_timm_name(name) == timm_name for name, timm_name in preact.items())


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_same_outputs_as_timm(name: str) -> None:
    reference = timm.create_model(_timm_name(name), num_classes=10).eval()
    _scramble_batch_norm(reference)
    _tame_residuals(reference)
    ours = _load_ours(name, reference.state_dict(), "timm")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    size = INPUT_SIZE.get(name, 64)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
        features = (ours.forward_features(x) - reference.forward_features(x)).abs().max().item()
    assert features <= 1e-5 and diff <= 1e-5, f"{name}: max abs difference {diff} (features {features})"


def test_googlenet_with_auxiliary_classifiers_matches_torchvision() -> None:
    reference = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False).eval()
    _scramble_batch_norm(reference)
    ours = _load_ours("googlenet", reference.state_dict(), "torchvision", aux_logits=True)
    x = torch.randn(2, 3, 64, 64)
    seen = {}  # torchvision taps aux1 after inception (4a), aux2 after (4d); in eval mode it skips them
    hooks = [getattr(reference, tap).register_forward_hook(lambda m, i, o, n=name: seen.__setitem__(n, o))
             for name, tap in (("aux1", "inception4a"), ("aux2", "inception4d"))]  # fmt: skip
    with torch.no_grad():
        diff = (ours(x) - reference(x)).abs().max().item()
        for name in ("aux1", "aux2"):  # the heads themselves, in eval mode so dropout is off
            aux = getattr(ours.features, name).head(seen[name]) - getattr(reference, name)(seen[name])
            assert aux.abs().max().item() <= 1e-5, name
    for hook in hooks:
        hook.remove()
    assert diff <= 1e-5


def test_googlenet_without_auxiliary_classifiers_drops_their_weights() -> None:
    state = torchvision.models.googlenet(num_classes=10, aux_logits=True, init_weights=False).state_dict()
    renamed = from_layout("googlenet", state, "torchvision")
    assert not any(key.startswith("aux") or ".aux" in key for key in renamed)
    assert len(renamed) == len([k for k in state if not k.startswith("aux")])
