"""Every command that takes a pattern binds its template the same way: --set on train, finetune, compare, sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import convarch as ca
from convarch.analysis.sweep import parse_setting
from convarch.cli import main

TEMPLATE = "INPUT -> [CONV3-8 -> RELU]*N -> POOL2 -> FC"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_binds_a_template_with_set_and_the_datas_input_size(capsys, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", TEMPLATE, "--data", "digits", "--set", "N=2", "--out", str(out),
                          "--epochs", "1", "--labels-per-class", "5", "--threads", "1", "--quiet")  # fmt: skip
    assert code == 0, err
    model = ca.load(out / "last.safetensors")
    assert ca.to_pattern(model) == "INPUT(28x28x1) -> [CONV3-8 -> RELU]*2 -> POOL2 -> FC10"  # digits' own size
    code, _, err = run(capsys, "train", TEMPLATE, "--data", "digits", "--set", "M=2", "--out", str(tmp_path / "x"))
    assert code == 1 and "'M' is not a template variable of this pattern (its variables are N)" in err
    code, _, err = run(capsys, "train", TEMPLATE, "--data", "digits", "--out", str(tmp_path / "y"))
    assert code == 2 and "(on the command line: --set N=2)" in err  # the advice names an option train has
    code, _, err = run(capsys, "finetune", "lenet5", "--weights", "w", "--data", "digits", "--set", "N=2")
    assert code == 1 and "--set binds the variables of a template pattern; lenet5 is not one" in err


def test_the_python_api_takes_the_same_keywords(tmp_path: Path) -> None:
    bare = "INPUT -> [CONV -> RELU]*N -> POOL2 -> FC"
    result = ca.train(bare, "digits", N=1, base_width=4, epochs=1, labels_per_class=3, threads=1, quiet=True)
    expected = ca.build(bare, input_size=(1, 28, 28), num_classes=10, N=1, base_width=4)
    assert ca.to_pattern(result.model) == ca.to_pattern(expected) and "-4 " in ca.to_pattern(expected)
    with pytest.raises(ca.ConfigError, match="unknown training option"):  # a misspelt option is still named
        ca.train(TEMPLATE, "digits", N=1, epoch=1, quiet=True)


def test_compare_binds_the_patterns_among_its_models(capsys) -> None:
    code, text, err = run(capsys, "compare", "INPUT(32x32x3) -> [CONV3-8 -> RELU]*N -> GAP -> FC10", "lenet5",
                          "--set", "N=3", "--json")  # fmt: skip
    assert code == 0, err
    params = [m["params"] for m in json.loads(text)["models"]]
    assert params[0] == ca.analyze("INPUT(32x32x3) -> [CONV3-8 -> RELU]*3 -> GAP -> FC10").params
    code, _, err = run(capsys, "compare", "lenet5", "--set", "N=3")
    assert code == 1 and "N bind template patterns, but every model given is a zoo name" in err


def test_sweep_takes_binding_options_as_build_does(capsys) -> None:
    assert parse_setting("BASE_WIDTH=16,32") == ("base_width", [16, 32])
    assert parse_setting("optional = keep, drop") == ("optional", ["keep", "drop"])
    code, text, err = run(capsys, "sweep", "INPUT(32x32x3) -> [CONV -> RELU -> POOL2?]*N -> FC10", "--set", "N=1..2",
                          "--set", "base_width=16,32", "--set", "optional=keep,drop", "--json")  # fmt: skip
    assert code == 0, err
    rows = json.loads(text)["instances"]
    assert len(rows) == 8 and all(not row["error"] for row in rows)
    by_values = {(r["values"]["N"], r["values"]["base_width"], r["values"]["optional"]): r["params"] for r in rows}
    built = ca.analyze("INPUT(32x32x3) -> [CONV -> RELU -> POOL2?]*N -> FC10", N=2, base_width=16, optional="keep")
    assert by_values[(2, 16, "keep")] == built.params != by_values[(2, 32, "keep")]


def test_export_binds_a_template_with_set(capsys, tmp_path: Path) -> None:
    pattern = "INPUT(16x16x1) -> [CONV3-4 -> RELU]*N -> GAP -> FC10"
    code, _, err = run(capsys, "export", pattern, "--out", str(tmp_path / "m.safetensors"), "--set", "N=2")
    assert code == 0, err
    assert ca.to_pattern(ca.load(tmp_path / "m.safetensors")) == ca.to_pattern(ca.build(pattern, N=2))
    code, _, err = run(capsys, "export", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "n.safetensors"),
                       "--set", "N=2")  # fmt: skip
    assert code == 1 and "--set binds the variables of a template pattern" in err


def test_set_on_a_zoo_name_is_one_message_on_every_command(capsys) -> None:
    message = "--set binds the variables of a template pattern; lenet5 is not one"
    for argv in (["check", "lenet5"], ["train", "lenet5", "--data", "digits"], ["show", "lenet5"]):
        code, _, err = run(capsys, *argv, "--set", "N=2")
        assert code == 1 and message in err, argv


@pytest.mark.parametrize(
    ("source", "option", "what"),
    [
        ("lenet5", "base_width=16", "no CONV without a width"),  # every CONV of a zoo model has its width
        ("resnet18", "max_width=64", "no CONV without a width"),
        (TEMPLATE, "hidden_width=64", "no hidden FC without a width"),  # its one FC is the classifier
        (TEMPLATE, "optional=keep", "no optional element (X?)"),
    ],
)
def test_a_binding_option_with_nothing_to_bind_is_refused_not_ignored(capsys, source, option, what) -> None:
    code, out, err = (
        run(capsys, "check", source, "--set", option, "--set", "N=1")
        if source == TEMPLATE
        else run(capsys, "check", source, "--set", option)
    )
    name = option.split("=")[0]
    assert code == 1 and f"{name} changes nothing here: this network has {what}" in err and out == ""
    assert "Traceback" not in err


def test_binding_options_that_bind_something_still_work() -> None:
    spec = ca.build("INPUT -> [CONV -> RELU -> POOL?]*2 -> [FC -> RELU]*1 -> FC", base_width=8, max_width=8,
                    hidden_width=12, optional="keep").spec  # fmt: skip
    assert ca.to_pattern(spec) == "INPUT(32x32x3) -> [CONV3-8 -> RELU -> POOL2]*2 -> FC12 -> RELU -> FC10"
