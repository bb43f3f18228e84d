"""The papers' own tables against computed counts: GoogLeNet Table 1, ResNet Table 1 FLOPs, CIFAR Table 6.

The published numbers live in the metadata; these tests compute the network's and compare. Rows that a
paper prints inconsistently are documented in the model's notes, and a test checks they really are off.
"""

from __future__ import annotations

import pytest

import convarch as ca
from convarch.spec import NetSpec, Seq
from convarch.spec.walk import output_volume, split

GOOGLENET_PAPER = ca.model_info("googlenet_paper")
TABLE1 = GOOGLENET_PAPER.figures["table1"]
INCONSISTENT = GOOGLENET_PAPER.figures["table1_inconsistent"]


def _googlenet_rows() -> dict[str, tuple[int, int]]:
    """Table 1's rows from the analysis: (weights, multiply-adds), main path only."""
    rows = [r for r in ca.analyze("googlenet_paper").rows if not r.aux and r.kind in ("CONV", "FC")]
    by_row: dict[str, tuple[int, int]] = {}

    def add(key: str, weights: int, macs: int) -> None:
        w, m = by_row.get(key, (0, 0))
        by_row[key] = (w + weights, m + macs)

    for r in rows:
        if r.path == "features.conv1":
            add("conv1", r.weights, r.macs)
        elif r.path in ("features.conv2", "features.conv3"):  # Table 1's "convolution 3x3/1, depth 2" row
            add("conv2", r.weights, r.macs)
        elif r.path.startswith("features.inception"):
            add(r.path.split(".")[1].removeprefix("inception"), r.weights, r.macs)
        else:
            assert r.path == "classifier"
            add("linear", r.weights, r.macs)
    return by_row


COMPUTED = _googlenet_rows()


def _params_agree(row: str) -> bool:
    # Table 1 counts weights (no biases) in K = 1024; its rounding is loose, so 2% (see the notes).
    return abs(COMPUTED[row][0] / 1024 - TABLE1[row][0]) <= 0.02 * TABLE1[row][0]


def _ops_agree(row: str) -> bool:
    # Multiply-adds in M = 10^6, printed as whole numbers: within one unit of the last digit.
    return abs(COMPUTED[row][1] / 1e6 - TABLE1[row][1]) <= 1


@pytest.mark.parametrize("row", list(TABLE1))
def test_googlenet_paper_matches_table_1_row(row: str) -> None:
    assert set(COMPUTED) == set(TABLE1)
    bad = INCONSISTENT.get(row, ())
    assert _params_agree(row) == ("params" not in bad), (row, COMPUTED[row][0] / 1024, TABLE1[row][0])
    assert _ops_agree(row) == ("ops" not in bad), (row, COMPUTED[row][1] / 1e6, TABLE1[row][1])


def test_googlenet_paper_inconsistent_rows_are_documented() -> None:
    notes = " ".join(GOOGLENET_PAPER.notes)
    for row in INCONSISTENT:
        label = "convolution 7x7/2" if row == "conv1" else f"inception ({row})"
        assert f"Table 1, {label}" in notes, row


def test_googlenet_paper_volumes_follow_table_1() -> None:
    """The output sizes of Table 1's rows, from the walk (Caffe's rounded-up pooling gives 56, 28, 14, 7)."""
    spec = ca.spec_of("googlenet_paper")
    features = split(spec).features
    sizes = {}
    for i, (name, _) in enumerate(features):
        prefix = NetSpec(Seq(tuple(node for _, node in features[: i + 1])), spec.input)
        sizes[name] = str(output_volume(prefix))
    expected = {"pool1": "56x56x64", "conv3": "56x56x192", "inception3a": "28x28x256", "inception3b": "28x28x480",
                "inception4a": "14x14x512", "inception4d": "14x14x528", "inception4e": "14x14x832",
                "pool4": "7x7x832", "inception5b": "7x7x1024"}  # fmt: skip
    assert {name: sizes[name] for name in expected} == expected


TABLE1_RESNETS = [n for n in ca.list_models("resnet*") if "table1_gmacs" in ca.model_info(n).figures]


def test_resnet_table_1_covers_every_depth_with_the_papers_stride() -> None:
    assert TABLE1_RESNETS == ["resnet101_paper", "resnet152_paper", "resnet18", "resnet34", "resnet50_paper"]


@pytest.mark.parametrize("name", TABLE1_RESNETS)
def test_resnet_multiply_adds_match_table_1(name: str) -> None:
    figure = ca.model_info(name).figures["table1_gmacs"]
    gmacs = ca.analyze(name).macs / 1e9
    assert figure.matches(gmacs), f"{name}: {gmacs:.3f} vs Table 1 {figure}"


def test_resnet_v1_5_costs_more_than_table_1_allows() -> None:
    """torchvision's v1.5 bottlenecks do not match Table 1: only the paper's stride placement does."""
    for depth in (50, 101, 152):
        figure = ca.model_info(f"resnet{depth}_paper").figures["table1_gmacs"]
        assert not figure.matches(ca.analyze(f"resnet{depth}").macs / 1e9), depth


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"])
def test_cifar_resnets_match_table_6(name: str) -> None:
    info = ca.model_info(name)
    assert "Table 6" in info.params.source
    report = ca.analyze(name)
    assert info.params.matches(report.params)
    depth = int(name.removeprefix("resnet"))
    weighted = [r for r in report.rows if r.kind in ("CONV", "FC")]
    assert len(weighted) == depth, "6n + 2 weighted layers; option-A shortcuts add none"
