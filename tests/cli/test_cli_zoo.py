"""The CLI prints tables and clear errors; a user's mistake never shows a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convarch.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_prints_name_family_year_params_input(capsys) -> None:
    code, out, _ = run(capsys, "list", "vgg16*")
    assert code == 0
    assert "vgg16_bn" in out and "vgg16_c" in out and "2014" in out and "138.4M" in out and "224x224x3" in out


def test_list_pretrained_shows_only_models_with_weights(capsys) -> None:
    code, out, _ = run(capsys, "list", "lenet*", "--pretrained")
    assert code == 1 and "no model with registered weights matches 'lenet*'" in out
    code, out, _ = run(capsys, "list", "resnet5*", "--pretrained")
    assert code == 0 and "resnet50 " in out and "resnet50_paper" not in out


def test_list_accepts_a_pattern(capsys) -> None:
    code, out, _ = run(capsys, "list", "INPUT(32x32x3) -> CONV3-8 -> POOL2 -> FC10")
    assert code == 0 and "CONV3-8" in out


def test_show_prints_info_deviations_and_layers(capsys) -> None:
    code, out, _ = run(capsys, "show", "alexnet")
    assert code == 0
    assert "Krizhevsky" in out and "deviations" in out and "CONV11-64(s=4, p=2)" in out and "55x55x64" in out


def test_show_accepts_a_pattern(capsys) -> None:
    code, out, _ = run(capsys, "show", "INPUT(32x32x3) -> CONV3-16 -> RELU -> POOL2 -> FC10")
    assert code == 0 and "16x16x16" in out and "FC10" in out


@pytest.mark.parametrize(
    ("argv", "message", "expected_code"),
    [
        (("show", "vgg17"), "Did you mean vgg19, vgg16", 1),
        (("show", "CONV3-64 -> RLEU"), "Did you mean RELU", 2),
        (("list", "nothing*"), "no model matches", 1),
    ],
)
def test_user_mistakes_give_one_clear_message(capsys, argv, message, expected_code) -> None:
    code, out, err = run(capsys, *argv)
    assert code == expected_code
    assert message in out + err and "Traceback" not in out + err


def test_the_installed_command_has_no_traceback_on_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convarch", "show", "resnet9000"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "unknown model" in result.stderr and "Traceback" not in result.stderr


def test_a_name_glob_where_one_model_is_expected_points_to_list(capsys) -> None:
    code, out, err = run(capsys, "show", "vgg1?_bn")
    assert code == 1 and "Traceback" not in out + err
    assert "'vgg1?_bn' is a name pattern, not one model (it matches vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn)" in err
    assert "`convarch list 'vgg1?_bn'`" in err
    code, _, err = run(capsys, "show", "CONVV3-8*2")  # pattern text with a typo stays a pattern error
    assert code == 2 and "unknown layer 'CONVV3'. Did you mean CONV3?" in err


@pytest.mark.parametrize(
    ("text", "names"),
    [("RESNET1*", ["resnet18", "resnet101"]), ("vgg1[69]", ["vgg16", "vgg19"]), ("VGG1?", ["vgg11", "vgg19"])],
)
def test_list_reads_any_case_and_bracket_globs_as_name_filters(capsys, text: str, names: list[str]) -> None:
    code, out, err = run(capsys, "list", text)
    assert code == 0 and err == "" and "convarch model zoo" in out
    assert all(name in out for name in names) and "alexnet" not in out


@pytest.mark.parametrize(
    ("argv", "stream", "message"),
    [
        (("list", "ResNet-50"), "out", "no model matches 'ResNet-50' (did you mean resnet50"),
        (("list", "RESNET9*"), "out", "no model matches 'RESNET9*' (did you mean resnet"),
        (("show", "ResNet-50"), "err", "unknown model 'ResNet-50'. Did you mean resnet50"),
        (("show", "vgg1[69]"), "err", "'vgg1[69]' is a name pattern, not one model (it matches vgg16, vgg19)"),
    ],
)
def test_a_close_model_name_is_suggested_before_a_layer(capsys, argv, stream: str, message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and "Traceback" not in out + err
    assert message in (out if stream == "out" else err)
    assert "RES" not in err and "layer" not in out + err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CONV*", "no model matches 'CONV*' (as pattern text, '*' takes a repeat count: CONV3-8*2)"),
        ("resnet", "no model is named 'resnet'; `convarch list 'resnet*'` lists the"),
    ],
)
def test_a_bare_glob_is_a_filter_and_a_family_prefix_points_to_its_glob(capsys, text: str, message: str) -> None:
    code, out, err = run(capsys, "list", text)
    assert code == 1 and err == "" and message in out


def test_pattern_text_with_brackets_is_still_a_pattern_in_list(capsys) -> None:
    assert run(capsys, "list", "[CONV3-8 -> RELU]*2 -> GAP -> FC10")[0] == 0
    code, _, err = run(capsys, "list", "[CONV3-8x]*2")  # a typo keeps the pattern's caret message
    assert code == 2 and "expected '->' between two layers" in err


def test_show_refuses_bad_options_before_printing_anything(capsys) -> None:
    code, out, err = run(capsys, "show", "lenet5", "--set", "N=2")
    assert code == 1 and out == "" and "--set binds the variables of a template pattern; lenet5 is not one" in err


def test_build_seed_out_of_range_is_a_usage_error(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "build", "lenet5", "-o", str(tmp_path / "m.safetensors"), "--seed", str(2**70))
    assert code == 2 and "--seed" in err and "Traceback" not in err and not list(tmp_path.iterdir())


def test_small_models_list_their_multiply_adds_instead_of_zero(capsys) -> None:
    assert main(["list", "lenet5*"]) == 0
    out = capsys.readouterr().out
    assert "0.000417" in out and "0.000333" in out and " 0.000 " not in out  # LeNet-5: 416,520 MACs
