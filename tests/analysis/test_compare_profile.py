"""The comparison rows and the per-layer profile, checked from the data (the charts are tested in tests/viz)."""

from __future__ import annotations

import re

import pytest

import convarch as ca
from convarch.analysis import SEED_LINEUP, compare, layer_profile, seed_lineup
from convarch.analysis.profile import centre_of_mass


def test_seed_lineup_splits_registered_from_missing_names() -> None:
    present, missing = seed_lineup()
    assert sorted(present + missing) == sorted(SEED_LINEUP)
    assert set(present) <= set(ca.list_models()) and not set(missing) & set(ca.list_models())
    assert "vgg16" in present and "alexnet" in present


def test_comparison_rows_hold_computed_counts_and_published_accuracy() -> None:
    rows = compare(["alexnet", "vgg16", "INPUT(32x32x3) -> CONV3-8 -> POOL2 -> FC10"])
    alexnet, vgg, pattern = rows
    assert alexnet.year == 2012 and vgg.year == 2014 and pattern.year is None
    assert vgg.report.params == ca.analyze("vgg16").params and vgg.gmacs == ca.analyze("vgg16").macs / 1e9
    assert vgg.top1 is ca.model_info("vgg16").top1 and pattern.top1 is None
    # CS231n: VGG has more memory and more operations than AlexNet; both keep most params in the FC layers.
    assert vgg.report.forward_bytes > 10 * alexnet.report.forward_bytes and vgg.gmacs > 10 * alexnet.gmacs
    assert alexnet.report.fc_share > 0.9 and vgg.report.fc_share > 0.85
    data = vgg.to_dict()
    assert data["top1"]["source"] == ca.model_info("vgg16").top1.source and data["fc_share"] == vgg.report.fc_share


def test_comparison_refuses_unknown_names() -> None:
    with pytest.raises(ca.UnknownModelError, match="vgg16"):
        compare(["vgg61"])


def test_vgg_memory_sits_early_and_its_params_late() -> None:
    """CS231n: most memory in the early CONV layers, most parameters in the last FC layers."""
    profile = layer_profile(ca.analyze("vgg16"))
    assert profile.memory_centre < 0.3 and profile.params_centre > 0.8
    assert profile.share_before(1 / 3, profile.memory_bytes) > 0.6
    assert profile.share_before(2 / 3, profile.params) < 0.15
    assert profile.names[0] == "CONV3-64" and profile.names[-1] == "FC1000"
    assert sum(profile.params) == ca.analyze("vgg16").params


def test_centre_of_mass() -> None:
    assert centre_of_mass([5, 0, 0]) == 0.0 and centre_of_mass([0, 0, 5]) == 1.0
    assert centre_of_mass([1, 1, 1]) == 0.5 and centre_of_mass([0, 0]) == 0.0


def test_a_profile_of_a_net_without_parameters_says_so() -> None:
    """It said "100% in the last third" of the parameters of a network that has none."""
    summary = layer_profile(ca.analyze("INPUT(32x32x3) -> POOL2 -> GAP")).summary()
    assert "params: none" in summary and "%" not in summary.partition("params:")[2]
    assert layer_profile(ca.analyze("INPUT(32x32x3)")).summary() == (
        "memory: no layer allocates any. params: none; the network has no layer with weights."
    )
    vgg = layer_profile(ca.analyze("vgg16")).summary()
    assert re.search(r"params: centre at 8\d% of depth, 9\d% in the last third", vgg)


def test_a_chart_with_no_published_accuracy_is_refused_not_written_empty(tmp_path) -> None:
    from convarch.viz.charts import complexity_chart

    rows = compare(["INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP -> FC10"])
    with pytest.raises(ca.ConfigError, match="no published top-1 accuracy for .*the chart would be empty"):
        complexity_chart(rows, tmp_path / "chart.png")
    assert list(tmp_path.iterdir()) == []


def test_one_string_is_one_model_not_a_list_of_its_characters() -> None:
    (row,) = compare("resnet18")
    assert row.name == "resnet18" and row.report.params == ca.analyze("resnet18").params
