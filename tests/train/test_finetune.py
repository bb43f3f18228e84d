"""Fine-tuning: a new head, a frozen backbone on cached features, then discriminative rates; exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.train.helpers import TINY, weights_equal

import convarch as ca
from convarch.train.finetune import discriminative_groups


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source of pretrained weights made here: the tiny network, 3 epochs on mnist5k at 16x16 (~93%)."""
    torch.set_num_threads(1)
    result = ca.train(TINY, "mnist5k", epochs=3, quiet=True)
    return ca.save(result.model, tmp_path_factory.mktemp("pre") / "mnist.safetensors")


def backbone(model: ca.ConvNet) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")}


def test_the_frozen_phase_trains_only_a_new_head(pretrained: Path) -> None:
    source = ca.load(pretrained)
    result = ca.finetune(data="digits", weights=pretrained, freeze_epochs=3, epochs=3, labels_per_class=10,
                         quiet=True, threads=1)  # fmt: skip
    tuned = result.model
    assert [row["phase"] for row in result.history] == ["frozen"] * 3
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in backbone(tuned).items())  # untouched
    assert not torch.equal(tuned.classifier.weight, source.classifier.weight)
    assert result.history[-1]["val_top1"] > 0.45  # a linear probe on 100 digits already reads them (~60%)
    assert tuned.pretrained_cfg["mean"] == source.pretrained_cfg["mean"]  # the weights' preprocessing, not the data's


def test_unfreezing_moves_the_backbone_with_smaller_rates_early(pretrained: Path, tmp_path: Path) -> None:
    source = ca.load(pretrained)
    result = ca.finetune(data="digits", weights=pretrained, freeze_epochs=1, epochs=3, labels_per_class=10,
                         out=tmp_path / "ft", quiet=True, threads=1)  # fmt: skip
    assert [row["phase"] for row in result.history] == ["frozen", "finetune", "finetune"]
    assert not torch.equal(result.model.features.conv1.weight, source.features.conv1.weight)
    assert ca.load(tmp_path / "ft" / "last.safetensors").class_names == [str(d) for d in range(10)]


def test_discriminative_groups_cover_every_parameter_once_with_decaying_rates() -> None:
    model = ca.create_model("lenet5")
    groups = discriminative_groups(model, lr=1.0, decay=0.5, weight_decay=0.01)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    rates = {g["lr"] for g in groups}
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(model.classifier.weight)] == 1.0 == max(rates)
    assert lr_of[id(model.features.conv1.weight)] < lr_of[id(model.features.conv2.weight)]
    assert lr_of[id(model.features.conv2.weight)] < lr_of[id(model.pre_logits.fc1.weight)] < 1.0
    assert all(g["weight_decay"] == 0.0 for g in groups for p in g["params"] if p.ndim == 1)


def test_finetune_resumes_exactly(pretrained: Path, tmp_path: Path) -> None:
    options = {"data": "digits", "weights": pretrained, "freeze_epochs": 1, "epochs": 3, "labels_per_class": 10,
               "quiet": True, "threads": 1}  # fmt: skip
    whole = ca.finetune(out=tmp_path / "whole", **options)

    def crash(epoch: int, index: torch.Tensor) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ca.finetune(out=tmp_path / "crash", on_batch=crash, **options)
    resumed = ca.finetune(resume=tmp_path / "crash", quiet=True)
    assert weights_equal(resumed.model, whole.model)


def test_a_zoo_name_loads_through_the_weights_loader_and_a_misfit_is_named(pretrained: Path, tmp_path: Path) -> None:
    lenet = ca.train("lenet5", "digits", epochs=1, quiet=True, threads=1)
    path = ca.save(lenet.model, tmp_path / "lenet.safetensors")
    tuned = ca.finetune("lenet5", "digits", weights=path, freeze_epochs=1, epochs=1, labels_per_class=5,
                        quiet=True, threads=1)  # fmt: skip
    assert tuned.model.num_classes == 10 and tuned.history[0]["phase"] == "frozen"
    wider = TINY.replace("CONV3-8", "CONV3-12")
    with pytest.raises(ca.WeightsError, match="features"):
        ca.finetune(wider, "digits", weights=pretrained, epochs=1, freeze_epochs=1, quiet=True)


def test_the_frozen_phase_defaults_to_a_quarter_of_the_epochs_given(pretrained: Path) -> None:
    result = ca.finetune(data="digits", weights=pretrained, epochs=2, labels_per_class=5, quiet=True, threads=1)
    assert [row["phase"] for row in result.history] == ["frozen", "finetune"]  # 2 / 4, rounded up
    with pytest.raises(ca.ConfigError, match=r"freeze_epochs \(3\) must be from 0 to epochs \(2\)"):
        ca.finetune(data="digits", weights=pretrained, epochs=2, freeze_epochs=3, quiet=True)
