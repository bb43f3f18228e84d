"""Computed counts against the published figures stored in the metadata (one place for each figure)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import convarch as ca

MODELS = ca.list_models()
WITH_PARAMS = [n for n in MODELS if ca.model_info(n).params is not None]
WITH_GMACS = [n for n in MODELS if ca.model_info(n).gmacs is not None]
TORCHVISION_NAMES = [n for n in MODELS if n in torchvision.models.list_models()]
# torchvision builds GoogLeNet with its auxiliary heads unless told otherwise, but the model it publishes
# (and its num_params) has none, like our googlenet by default.
REFERENCE_OPTIONS = {"googlenet": {"aux_logits": False}}


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_parameter_count_matches_the_published_figure(name: str) -> None:
    info = ca.model_info(name)
    model = ca.create_model(name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert ca.analyze(name).params == trainable
    assert info.params.matches(trainable), f"{name}: {trainable:,} vs published {info.params}"


@pytest.mark.parametrize("name", WITH_GMACS)
def test_multiply_adds_match_the_published_figure(name: str) -> None:
    info = ca.model_info(name)
    gmacs = ca.analyze(name, input_size=info.input_size).macs / 1e9
    assert info.gmacs.matches(gmacs), f"{name}: {gmacs:.4f} GMACs vs published {info.gmacs}"


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_models_have_the_same_parameter_count(name: str) -> None:
    with torch.device("meta"):
        reference = torchvision.models.get_model(name, **REFERENCE_OPTIONS.get(name, {}))
    assert ca.analyze(name).params == sum(p.numel() for p in reference.parameters())


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_totals_equal_its_num_params_and_ops(name: str) -> None:
    """Every model torchvision also has carries torchvision's num_params and _ops, and both counts hold:
    our spec walk gives them, and so do hooks on torchvision's own module (run on the meta device)."""
    info = ca.model_info(name)
    assert info.params is not None and info.gmacs is not None, f"{name}: torchvision publishes both figures"
    assert "torchvision" in info.params.source and "torchvision" in info.gmacs.source
    with torch.device("meta"):  # as published: torchvision's GoogLeNet weights come without auxiliary heads
        reference = torchvision.models.get_model(name, **REFERENCE_OPTIONS.get(name, {}))
    theirs = ca.analyze(reference, input_size=info.input_size)
    ours = ca.analyze(name, input_size=info.input_size)
    assert (ours.params, ours.macs) == (theirs.params, theirs.macs)
    assert info.params.matches(ours.params) and info.gmacs.matches(ours.macs / 1e9)


@pytest.mark.parametrize("name", [n for n in MODELS if n.startswith("vgg")])
def test_vgg_matches_table_2_of_the_paper(name: str) -> None:
    figure = ca.model_info(name).figures["table2_params"]
    assert figure.matches(ca.analyze(name).params)


def test_lenet5_paper_layers_match_section_2b() -> None:
    info = ca.model_info("lenet5_paper")
    rows = [r for r in ca.analyze("lenet5_paper").rows if r.kind in ("CONV", "SUBSAMPLE", "FC", "RBF")]
    names = ["C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT"]
    connections = 0
    for name, row in zip(names, rows, strict=True):
        # a connection is an input feeding a unit, plus its bias: the multiply-adds plus the bias additions
        row_connections = row.macs + (row.activations if row.params > row.weights else 0)
        connections += row_connections
        if name in info.figures["layers"]:
            published = info.figures["layers"][name]
            assert row.params == published["params"], name
            assert row_connections == published["connections"], name
    assert info.figures["connections"].matches(connections)
    assert sum(r.params for r in rows) == info.params.value


def test_alexnet_paper_input_inconsistency_is_documented() -> None:
    assert any("227" in note and "224" in note for note in ca.model_info("alexnet_paper").notes)
    # At 224 the first conv does not work out exactly: the sizing arithmetic shows why 227 is used.
    from convarch.spec.layers import Conv
    from convarch.spec.volume import Volume

    conv1 = Conv(96, 11, s=4, p=0)
    assert not conv1.exact(Volume(3, 224, 224)) and conv1.exact(Volume(3, 227, 227))
    assert conv1.output(Volume(3, 227, 227)) == Volume(96, 55, 55)
