"""The safe training-state format, RNG capture, and the per-step learning-rate schedules."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import convarch as ca
from convarch.train.config import TrainConfig
from convarch.train.schedule import Schedule, StepScheduler, make_optimizer, match_parameter_layout, param_groups
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


@pytest.mark.parametrize("lr", [float("inf"), float("-inf"), float("nan"), 0.0, -0.1])
def test_a_rate_that_is_not_positive_and_finite_is_refused(lr: float) -> None:
    with pytest.raises(ca.ConfigError, match="learning rate must be a positive finite number"):
        TrainConfig(lr=lr)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_resumed_optimizer_state_takes_its_parameters_memory_layout(name: str) -> None:
    """CUDA's fused optimizers refuse state whose strides differ from the parameter's (a channels_last conv
    resumed from a file of contiguous tensors failed on an H100); the values must not change."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 3)).to(
        memory_format=torch.channels_last
    )
    optimizer = make_optimizer([{"params": list(model.parameters())}], name, 0.1, 0.9)
    x = torch.randn(2, 3, 9, 9).contiguous(memory_format=torch.channels_last)
    model(x).sum().backward()
    optimizer.step()
    tensors, structure = flatten(optimizer.state_dict(), "optimizer")  # the run's state file format
    saved = unflatten(structure, {k: v.contiguous() for k, v in tensors.items()})  # as safetensors stores them
    resumed = make_optimizer([{"params": list(model.parameters())}], name, 0.1, 0.9)
    resumed.load_state_dict(saved)
    weight = model[0].weight
    before = {k: v.clone() for k, v in resumed.state[weight].items() if torch.is_tensor(v)}
    assert any(v.shape == weight.shape and v.stride() != weight.stride() for v in before.values())
    match_parameter_layout(resumed)
    for key, value in resumed.state[weight].items():
        if torch.is_tensor(value) and value.shape == weight.shape:
            assert value.stride() == weight.stride() and torch.equal(value, before[key])
