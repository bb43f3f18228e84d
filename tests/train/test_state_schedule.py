"""The safe training-state format, RNG capture, and the per-step learning-rate schedules."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import convarch as ca
from convarch.train.config import TrainConfig
from convarch.train.schedule import Schedule, StepScheduler, make_optimizer, param_groups
from convarch.train.state import capture_rng, flatten, restore_rng, unflatten


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_optimizer_state_round_trips_through_tensors_and_json(name: str) -> None:
    model = ca.build("INPUT(8x8x1) -> CONV3-4 -> BN -> RELU -> FC3")
    optimizer = make_optimizer(param_groups(model, 0.01, 0.1), name, 0.1, 0.9)
    for _ in range(3):
        model(torch.randn(4, 1, 8, 8)).sum().backward()
        optimizer.step()
    state = optimizer.state_dict()
    tensors, structure = flatten(state, "optimizer/")
    text = json.dumps(structure)  # the structure really is plain JSON
    restored = unflatten(json.loads(text), tensors)
    assert restored["param_groups"] == state["param_groups"]  # int keys, tuples (betas) and floats exact
    assert restored["state"].keys() == state["state"].keys()
    for index, values in state["state"].items():
        for key, value in values.items():
            assert torch.equal(restored["state"][index][key], value)


def test_arbitrary_objects_are_refused_not_pickled() -> None:
    with pytest.raises(ca.ConfigError, match="cannot store a set .*never pickles"):
        flatten({"x": {1, 2}}, "p/")


def test_rng_capture_and_restore_reproduce_every_stream() -> None:
    state = capture_rng()
    tensors, structure = flatten(state, "rng/")
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(unflatten(json.loads(json.dumps(structure)), tensors))
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]
    assert state["torch"].dtype == torch.uint8


def test_onecycle_and_cosine_shapes() -> None:
    onecycle = Schedule("onecycle", total_steps=100, warmup_steps=0)
    assert onecycle.factor(0) == pytest.approx(1 / 25)
    assert onecycle.factor(25) == pytest.approx(1.0)  # the peak after a quarter of the run
    assert onecycle.factor(100) == pytest.approx(1 / 25e4)
    cosine = Schedule("cosine", total_steps=100, warmup_steps=10)
    assert cosine.factor(0) < cosine.factor(5) < cosine.factor(10) == pytest.approx(1.0)
    assert cosine.factor(55) == pytest.approx(0.5) and cosine.factor(100) == pytest.approx(0.0)
    with pytest.raises(ca.ConfigError, match="unknown schedule"):
        Schedule("step", 10, 0)


def test_scheduler_scales_each_group_and_resumes_from_its_step() -> None:
    model = ca.build("INPUT(8x8x1) -> CONV3-4 -> FC3")
    groups = [{"params": [model.features.conv1.weight], "lr": 0.1}, {"params": [model.classifier.weight], "lr": 1.0}]
    optimizer = torch.optim.SGD(groups, lr=1.0)
    scheduler = StepScheduler(optimizer, Schedule("cosine", 10, 0))
    for _ in range(4):
        scheduler.step()
    rates = [g["lr"] for g in optimizer.param_groups]
    assert rates[1] == pytest.approx(10 * rates[0])  # discriminative rates follow one curve
    fresh = StepScheduler(torch.optim.SGD(groups, lr=1.0), Schedule("cosine", 10, 0))
    fresh.load_state_dict(scheduler.state_dict())
    assert fresh.lr == pytest.approx(scheduler.lr)


def test_default_rates_scale_with_the_batch() -> None:
    assert TrainConfig(batch_size=64).base_lr == pytest.approx(0.1)
    assert TrainConfig(batch_size=16).base_lr == pytest.approx(0.025)  # linear for SGD
    assert TrainConfig(batch_size=256, optimizer="adamw").base_lr == pytest.approx(4e-3)  # square root for AdamW
    assert TrainConfig(lr=0.3).base_lr == 0.3
    with pytest.raises(ca.ConfigError, match="warmup"):
        TrainConfig(epochs=2, warmup=3)
    with pytest.raises(ca.ConfigError, match="unknown optimizer 'adam'"):
        TrainConfig(optimizer="adam")
