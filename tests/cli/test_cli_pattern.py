"""``convarch check`` and ``convarch build``, and patterns with --input/--set in ``show`` and ``list``."""

from __future__ import annotations

import pytest
import torch

import convarch as ca
from convarch.cli import main

SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
SEED_SETS = ("--set", "N=2", "--set", "M=3", "--set", "K=1")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_prints_the_table_and_the_findings_and_exits_0_without_errors(capsys) -> None:
    code, out, _ = run(capsys, "check", SEED, "--input", "32x32x3", *SEED_SETS, "--num-classes", "10")
    assert code == 0
    assert "pattern: INPUT(32x32x3) -> [CONV3-32 -> RELU]*2 -> POOL2" in out
    assert "4x4x128" in out and "524,544" in out  # the table: volumes and params of the bound network
    assert "[fc-dominates] #16 pre_logits.fc1" in out and "check: 0 errors, 1 warning, 0 notes" in out


def test_check_exits_1_on_an_error_and_shows_the_arithmetic(capsys) -> None:
    code, out, _ = run(capsys, "check", "INPUT(16x16x3) -> CONV3-8(s=2, p=0) -> GAP -> FC10")
    assert code == 1
    assert "(W − F + 2P)/S + 1 = (16 − 3 + 0)/2 + 1 = 7.5 -> floor 7" in out and "check: 1 error" in out


def test_check_strict_fails_on_warnings(capsys) -> None:
    text = "INPUT(32x32x1) -> CONV5-6(p=0) -> GAP -> FC10"
    assert run(capsys, "check", text)[0] == 0
    assert run(capsys, "check", text, "--strict")[0] == 1


def test_check_reports_a_volume_that_does_not_work_out_without_a_table(capsys) -> None:
    code, out, err = run(capsys, "check", "INPUT(8x8x3) -> [CONV3-8 -> POOL2]*4 -> GAP -> FC10")
    assert code == 1
    assert "no layer table" in out and "[collapsed-volume] #8 features.pool4" in out and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("check", "INPUT(32x32x3) -> [a: CONV3-8 -> RLEU]"), 2, "line 1, column 34: unknown layer 'RLEU'"),
        (("check", "INPUT(32x32x3) -> [a: CONV3-8 -> RLEU]"), 2, "[a: CONV3-8 -> RLEU]\n"),  # shown, not markup
        (("check", "[CONV3-8]*N -> FC10"), 2, "unbound template variable N"),
        (("check", "[CONV3-8]*N -> FC10", "--set", "n2=3"), 1, "Did you mean N?"),
        (("check", "CONV3-8 -> FC10", "--input", "32x32"), 1, "--input must be a volume H x W x C"),
        (("check", "CONV3-8 -> FC10", "--set", "N"), 1, "--set takes NAME=VALUE"),
        (("build", "[CONV3-8]*N -> FC10", "--set", "M=2", "--out", "x.safetensors"), 1, "not a template variable"),
    ],
)
def test_mistakes_give_one_clear_message_and_the_right_code(capsys, argv, code, message) -> None:
    got, out, err = run(capsys, *argv)
    assert got == code
    assert message in out + err and "Traceback" not in out + err


def test_build_writes_an_initialised_model_with_its_pattern(capsys, tmp_path) -> None:
    path = tmp_path / "seed.safetensors"
    code, out, _ = run(capsys, "build", SEED, *SEED_SETS, "--out", str(path))
    assert code == 0 and path.is_file() and "814.1K parameters, 10 classes" in out
    model = ca.load(path)
    expected = ca.build(SEED, input_size=(3, 32, 32), num_classes=10, N=2, M=3, K=1)
    assert ca.to_pattern(model) == ca.to_pattern(expected)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as stored:
        assert stored.metadata()["pattern"] == ca.to_pattern(expected)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_build_seeds_the_initial_weights(capsys, tmp_path) -> None:
    paths = [tmp_path / f"{name}.safetensors" for name in ("a", "b", "c")]
    for path, seed in zip(paths, ("1", "1", "2"), strict=True):
        assert run(capsys, "build", "INPUT(8x8x1) -> CONV3-4 -> GAP -> FC2", "--seed", seed, "--out", str(path))[0] == 0
    a, b, c = (ca.load(p).state_dict() for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)


def test_show_and_list_take_input_and_set_for_patterns(capsys) -> None:
    template = "[CONV -> RELU]*N -> GAP -> FC"
    code, out, _ = run(capsys, "show", template, "--set", "N=2", "--input", "16x16x1", "--compact")
    assert code == 0 and "INPUT(16x16x1) -> [CONV3-32 -> RELU]*2 -> GAP -> FC10" in out and "16x16x32" in out
    code, out, _ = run(capsys, "list", template, "--set", "N=1", "--num-classes", "5")
    assert code == 0 and "INPUT(32x32x3) -> CONV3-32 -> RELU -> GAP -> FC5" in out
    code, out, _ = run(capsys, "show", "vgg11", "--input", "32x32x3", "--num-classes", "10", "--compact")
    assert code == 0 and "INPUT(32x32x3)" in out and "1x1x512" in out and "FC10" in out
    code, out, err = run(capsys, "list", "vgg*", "--set", "N=2")
    assert code == 1 and "apply to pattern text" in out + err


def test_build_refuses_an_output_that_is_not_a_safetensors_file(tmp_path, capsys) -> None:
    from convarch.cli import main

    for target in (tmp_path, tmp_path / "net.txt"):
        assert main(["build", "INPUT(8x8x1) -> FC2", "--out", str(target)]) == 1
        captured = capsys.readouterr()
        assert "must end in .safetensors" in captured.err and "Traceback" not in captured.err


def test_check_refuses_a_channel_first_input_and_says_the_order(capsys) -> None:
    code, out, err = run(capsys, "check", "resnet18", "--input", "3x224x224")
    assert code != 0 and "Traceback" not in out + err
    assert "224 channels of 3x224 pixels" in err and "an image with 3 channels is 224x224x3" in err


def test_version(capsys) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"convarch {ca.__version__}" == f"convarch {version('convarch')}"


PATTERN_FILE = """# one layer per line, with comments
INPUT(32x32x3)
  -> CONV3-8 -> RELU   # 32x32x8
  -> GAP -> FC10
"""


@pytest.mark.parametrize("command", [("check",), ("show", "--compact"), ("list",), ("profile",), ("build", "--out")])
def test_every_pattern_command_reads_a_file_or_stdin(capsys, tmp_path, monkeypatch, command) -> None:
    import io

    (tmp_path / "net.txt").write_text(PATTERN_FILE)
    extra = (str(tmp_path / "net.safetensors"),) if command[-1] == "--out" else ()
    code, out, err = run(capsys, command[0], f"@{tmp_path / 'net.txt'}", *command[1:], *extra)
    assert code == 0, err
    assert "CONV3-8" in out or "wrote" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(PATTERN_FILE))
    assert run(capsys, command[0], "-", *command[1:], *extra)[0] == 0


def test_a_missing_or_empty_pattern_file_is_a_usage_error(capsys, tmp_path, monkeypatch) -> None:
    import io

    code, _, err = run(capsys, "check", f"@{tmp_path / 'absent.txt'}")
    assert code == 2 and "absent.txt does not exist; @FILE reads the pattern from a text file" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    code, _, err = run(capsys, "check", "-")
    assert code == 2 and "standard input holds no pattern" in err and "Traceback" not in err


def test_strict_passes_the_docs_own_examples_that_only_have_notes(capsys) -> None:
    """fc-dominates fired on the classifier of the ceil-rounding example, so --strict exited 1."""
    assert run(capsys, "check", "INPUT(112x112x64) -> POOL3(s=2, ceil=true) -> GAP -> FC10", "--strict")[0] == 0
