"""Registry behaviour and bad input: duplicates, unknown names, bad arguments, inputs too small."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.zoo.info import ModelInfo, Paper
from convarch.zoo.lenet import lenet5
from convarch.zoo.registry import ModelEntry, register


def test_list_models_is_sorted_and_filters() -> None:
    names = ca.list_models()
    assert names == sorted(names) and len(names) == len(set(names))
    assert ca.list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert ca.list_models("VGG16*") == ["vgg16", "vgg16_bn", "vgg16_c"]


def test_list_models_pretrained_keeps_the_models_with_registered_weights() -> None:
    from convarch.weights.sources import sources_for

    with_weights = ca.list_models(pretrained=True)
    assert with_weights and set(with_weights) < set(ca.list_models())
    assert all(sources_for(name) for name in with_weights)
    assert not [name for name in ca.list_models() if sources_for(name) and name not in with_weights]
    assert ca.list_models("vgg16*", pretrained=True) == ["vgg16", "vgg16_bn"]  # vgg16_c has no public weights


def test_registering_a_duplicate_name_raises() -> None:
    entry = ModelEntry("lenet5", lenet5, ModelInfo("lenet5", "lenet", Paper("x", 1998, "x")))
    with pytest.raises(ca.ConfigError, match="already registered"):
        register(entry)


def test_unknown_model_suggests_the_closest_names() -> None:
    with pytest.raises(ca.UnknownModelError, match=r"unknown model 'vgg17'\. Did you mean vgg19, vgg16"):
        ca.create_model("vgg17")
    with pytest.raises(ca.UnknownModelError, match="alexnet"):
        ca.model_info("alexnett")
    assert isinstance(ca.UnknownModelError("x"), ca.ConvarchError)


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_num_classes_must_be_a_non_negative_integer(bad) -> None:
    with pytest.raises(ca.ConfigError, match="num_classes must be a non-negative integer"):
        ca.create_model("lenet5", num_classes=bad)


def test_in_chans_must_be_positive() -> None:
    with pytest.raises(ca.ConfigError, match="in_chans"):
        ca.create_model("lenet5", in_chans=0)


def test_unknown_option_lists_the_accepted_ones() -> None:
    with pytest.raises(ca.ConfigError, match=r"does not take option drop_rate; it accepts: dropout"):
        ca.create_model("alexnet", drop_rate=0.2)
    # Every keyword create_model takes is listed, not only the family's, and the likely one is suggested.
    with pytest.raises(ca.ConfigError, match=r"it accepts: dropout, num_classes, in_chans, weights, pretrained, "
                       r"features_only, out_indices\. Did you mean dropout\?"):  # fmt: skip
        ca.create_model("vgg16", drop_rate=0.2)
    assert ca.create_model("alexnet", dropout=0.2).spec != ca.create_model("alexnet").spec


def test_an_input_too_small_is_a_sizing_error_naming_the_layer() -> None:
    with pytest.raises(ca.SizingError, match=r"features\.pool3 POOL3\(s=2\).*collapses.*\(H − F \+ 2P\)/S \+ 1"):
        ca.build("alexnet", input_size=(3, 32, 32))
    with pytest.raises(ca.SizingError, match=r"features\.conv2 CONV5-16\(p=0\)"):
        ca.analyze("lenet5", input_size=(1, 12, 12))


def test_model_info_carries_the_paper_and_deviations() -> None:
    info = ca.model_info("alexnet")
    assert info.paper.year == 2012 and "Krizhevsky" in info.paper.authors
    assert info.ilsvrc and "2012" in info.ilsvrc
    assert any("One weird trick" in d for d in info.deviations)
    assert ca.model_info("zfnet").paper.arxiv == "1311.2901"
    assert ca.model_info("vgg16").to_dict()["params"]["source"].startswith("torchvision")


def test_running_a_model_on_an_input_it_cannot_take_is_a_sizing_error() -> None:
    import torch

    model = ca.create_model("alexnet").eval()
    with pytest.raises(ca.SizingError, match=r"features\.pool3 POOL3\(s=2\).*collapses"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ca.SizingError, match="takes 3-channel images but the batch has 1 channels.*in_chans=1"):
        model(torch.randn(1, 1, 224, 224))
    with pytest.raises(ca.SizingError, match=r"a batch of images \(N, C, H, W\)"):
        model(torch.randn(3, 224, 224))
    fixed = ca.create_model("zfnet").eval()  # no adaptive pool: FC6 takes exactly 6x6x256
    with pytest.raises(ca.SizingError, match=r"pre_logits\.fc1 FC4096: it was built for 6x6x256 = 9,216 inputs"):
        fixed(torch.randn(1, 3, 300, 300))
    assert model(torch.randn(1, 3, 256, 256)).shape == (1, 1000)  # the adaptive pool takes other sizes


def test_a_bad_stride_place_is_refused_even_where_basic_blocks_ignore_it() -> None:
    with pytest.raises(ca.ConfigError, match="stride_in must be one of conv1, conv2, got 'bogus'"):
        ca.create_model("resnet18", stride_in="bogus")


def test_create_model_takes_pattern_text_bound_as_build_binds_it() -> None:
    """The README: wherever a model name is accepted, pattern text is too."""
    seed = "INPUT -> [CONV -> RELU]*N -> GAP -> FC"
    model = ca.create_model(seed, N=2, num_classes=5, in_chans=1)
    built = ca.build(seed, N=2, num_classes=5, input_size=(1, 32, 32))
    assert model.spec == built.spec and (model.num_classes, model.in_chans) == (5, 1)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 5)
    grey = {"N": 1, "input_size": (1, 28, 28)}
    assert ca.create_model(seed, **grey).spec == ca.build(seed, **grey).spec
    with pytest.raises(ca.ConfigError, match="in_chans=3 contradicts input_size"):
        ca.create_model(seed, N=1, in_chans=3, input_size=(1, 28, 28))
    features = ca.create_model("INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP -> FC10", features_only=True)
    assert features(torch.zeros(1, 3, 32, 32))[-1].shape == (1, 8, 32, 32)


def test_an_unknown_keyword_for_pattern_text_lists_every_keyword_and_pretrained_says_there_are_none() -> None:
    text = "INPUT(28x28x1) -> CONV3-8 -> RELU -> GAP -> FC10"
    with pytest.raises(ca.ConfigError, match="'drop_rate' is not a template variable") as caught:
        ca.create_model(text, drop_rate=0.2)
    for keyword in ("num_classes", "in_chans", "input_size", "weights", "pretrained", "features_only", "base_width"):
        assert keyword in str(caught.value)
    with pytest.raises(ca.ConfigError, match=r"nor an option \(input_size, num_classes, base_width"):
        ca.build(text, drop_rate=0.2)
    with pytest.raises(ca.WeightsError, match="pretrained=True .* pattern text has none: pass weights= a file"):
        ca.create_model(text, pretrained=True)


def test_a_checkpoint_trained_from_a_pattern_is_re_headed_by_create_model(tmp_path) -> None:
    text = "INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP -> FC10"
    trained = ca.build(text)
    ca.save(trained, tmp_path / "net.safetensors")
    model = ca.create_model(text, weights=tmp_path / "net.safetensors", num_classes=3)
    assert model.num_classes == 3 and model.classifier.weight.device.type == "cpu"
    assert torch.equal(model.features.conv1.weight, trained.features.conv1.weight)
    with pytest.raises(ca.WeightsError, match="a model built from a pattern has no registered weights"):
        ca.create_model(text, weights="imagenet")
    with pytest.raises(ca.UnknownModelError, match="Did you mean resnet50"):
        ca.create_model("ResNet-50")


def test_an_unknown_name_is_quoted_cut_short() -> None:
    with pytest.raises(ca.UnknownModelError) as raised:
        ca.analyze("x" * 150)
    assert len(str(raised.value)) < 200 and "(150 characters)" in str(raised.value)


def test_num_classes_is_bounded_like_any_width() -> None:
    from convarch.spec.limits import MAX_DIM

    assert ca.analyze("INPUT(8x8x1) -> FC10", num_classes=MAX_DIM).rows[-1].output == f"1x1x{MAX_DIM}"
    with pytest.raises(ca.ConfigError, match="num_classes is too large"):
        ca.analyze("INPUT(8x8x1) -> FC10", num_classes=MAX_DIM + 1)
