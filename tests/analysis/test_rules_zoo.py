"""The sizing checker over the whole zoo: no model has an error, and the known rule-breakers are flagged.

The zoo's networks are published, trained designs, so an error here would be either a spec bug or a
checker bug. Warnings are the seed's rules of thumb, which the classic nets break knowingly (VGG's FC6
holds most of its parameters, LeNet-5's convs shrink the volume).
"""

from __future__ import annotations

import pytest

import convarch as ca

MODELS_WITH_ERRORS: dict[str, set[str]] = {}  # none: every published layout works out


def findings_of(name: str, rule: str | None = None, severity: str | None = None) -> list[ca.Finding]:
    return [f for f in ca.check(name) if (rule is None or f.rule == rule) and (severity in (None, f.severity))]


def needs(*names: str):
    missing = [n for n in names if n not in ca.list_models()]
    return pytest.mark.skipif(bool(missing), reason=f"not in the zoo yet: {', '.join(missing)}")


@pytest.mark.parametrize("name", ca.list_models())
def test_exactly_the_expected_models_have_errors(name: str) -> None:
    errors = {f.rule for f in findings_of(name, severity="error")}
    assert errors == MODELS_WITH_ERRORS.get(name, set()), [str(f) for f in findings_of(name, severity="error")]


def test_vgg16s_first_fc_holds_most_of_the_parameters() -> None:
    report = ca.analyze("vgg16")
    first_fc = next(row for row in report.rows if row.kind == "FC")
    (finding,) = findings_of("vgg16", "fc-dominates")
    assert (finding.severity, finding.layer) == ("warning", first_fc.path)
    assert first_fc.params > report.params / 2  # the analysis agrees: 102.8M of 138.4M
    assert f"{first_fc.params:,} params" in finding.message and "GAP" in finding.message


@pytest.mark.parametrize(("name", "size"), [("alexnet", 11), ("alexnet_paper", 11)])
def test_alexnets_11x11_first_layer_is_allowed_as_a_first_layer(name: str, size: int) -> None:
    (finding,) = findings_of(name, "large-filter")
    assert (finding.severity, finding.layer, finding.index) == ("info", "features.conv1", 1)
    assert f"a {size}x{size} filter on the first layer" in finding.message


def test_zfnets_7x7_first_layer_passes_and_its_ceil_pools_are_intended() -> None:
    assert findings_of("zfnet", "large-filter") == []
    ceil = findings_of("zfnet", "ceil-rounding")
    assert ceil and all(f.severity == "info" and "ceil=true" in f.message for f in ceil)


def test_alexnet_paper_227_input_is_noted_because_its_strides_still_work_out() -> None:
    (finding,) = findings_of("alexnet_paper", "input-divisibility")
    assert finding.severity == "info" and "227 = 7 × 32 + 3" in finding.message


def test_torchvision_alexnet_floors_only_padding_at_224() -> None:
    """(224 − 11 + 4)/4 + 1 = 55.25: the floor drops one column of the right padding, not the image."""
    (finding,) = findings_of("alexnet", "floor-in-padding")
    assert finding.layer == "features.conv1" and "55.25 -> floor 55" in finding.message


def test_lenet5s_valid_convolutions_shrink_the_volume() -> None:
    shrinking = findings_of("lenet5", "padding-not-same")
    assert [(f.layer, f.severity) for f in shrinking] == [("features.conv1", "warning"), ("features.conv2", "warning")]
    as_fc = findings_of("lenet5_paper", "padding-not-same", "info")
    assert [f.layer for f in as_fc] == ["features.conv3"]  # C5: a 5x5 conv on 5x5x16 is an FC layer


@needs("resnet50", "resnet18")
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnets_follow_the_rules(name: str) -> None:
    """GAP before one FC, 3x3 convs, a 7x7/2 stem: no warning at all, only notes on harmless floors."""
    assert [str(f) for f in ca.check(name) if f.severity != "info"] == []
