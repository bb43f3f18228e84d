"""The pattern language: every form of the grammar, and errors that say where, what and how to fix it."""

from __future__ import annotations

import time

import pytest

import convarch as ca
from convarch.blocks import BLOCKS, block
from convarch.spec.layers import BN, FC, GAP, LRN, Conv, Dropout, Pool, Relu, ZeroPad
from convarch.spec.limits import MAX_DEPTH, MAX_DIM, MAX_LAYERS, MAX_REPEAT, MAX_TEXT
from convarch.spec.nodes import NetSpec, Opt, Parallel, Repeat, Seq
from convarch.spec.volume import Volume


def only(text: str):
    """The single element of a one-element pattern."""
    (item,) = ca.parse(text).layers.items
    return item


# ---- the forms of the language ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "layer"),
    [
        ("CONV3-64", Conv(64, 3)),
        ("CONV-64", Conv(64, 3)),  # the dash alone gives the width; F defaults to 3
        ("CONV11-96(s=4, p=2)", Conv(96, 11, s=4, p=2)),
        ("CONV1x7-192", Conv(192, (1, 7), p=(0, 3))),  # P = (F - 1)/2 on each axis keeps the size
        ("CONV3(64, stride=2, padding=0)", Conv(64, 3, s=2, p=0)),  # positional width, long argument names
        ("conv3-64(bias=false)", Conv(64, 3, bias=False)),  # names are case-insensitive
        ("FC4096", FC(4096)),
        ("FC-4096", FC(4096)),
        ("FC(units=10)", FC(10)),
        ("POOL2", Pool(2)),
        ("POOL3(s=2)", Pool(3, s=2)),
        ("POOL(f=3, s=1, type=avg)", Pool(3, s=1, type="avg")),
        ("POOL3(s=2, ceil=true)", Pool(3, s=2, ceil=True)),
        ("POOL(out=6, type=avg)", Pool(out=6, type="avg")),
        ("DROPOUT(0.5)", Dropout(0.5)),
        ("DROPOUT(p=0.2)", Dropout(0.2)),
        ("LRN(size=5)", LRN(size=5)),
        ("LRN(alpha=5e-4, k=2)", LRN(alpha=5e-4, k=2.0)),
        ("BN(eps=1e-3)", BN(eps=1e-3)),
        ("ZEROPAD128(s=2)", ZeroPad(128, s=2)),
        ("GAP", GAP()),
    ],
)
def test_layer_shorthand_and_arguments(text: str, layer) -> None:
    assert only(text) == layer


def test_input_comments_newlines_and_arrows() -> None:
    text = """
        # LeNet-like, one layer per line
        INPUT(28x28x1)
          -> CONV5-6     # 24x24x6
          → RELU         # the Unicode arrow works too
          -> POOL2
    """
    spec = ca.parse(text)
    assert spec.input == Volume(1, 28, 28)
    assert spec.layers == Seq((Conv(6, 5), Relu(), Pool(2)))


@pytest.mark.parametrize(
    "text",
    [
        "INPUT(32 x 32 x 3) -> CONV(8, f=3 x 3)",  # the docs' own "H x W x C"
        "INPUT(32\tx 32x\t3) -> CONV(8, f=3x 3)",
        "INPUT(32\u00a0x\u00a032\u00a0x\u00a03)\u00a0->\u202fCONV3-8",  # no-break spaces pasted from a page
        "\ufeffINPUT(32×32×3) -> CONV3-8",  # a byte-order mark and the multiplication sign
    ],
)
def test_spaces_are_free_inside_a_volume_too(text: str) -> None:
    spec = ca.parse(text)
    assert spec.input == Volume(3, 32, 32)
    assert spec.layers == Seq((Conv(8, 3),))


def test_groups_repeats_optionals_branches_and_labels() -> None:
    spec = ca.parse("stem: CONV3-32 -> [CONV3-64 -> RELU]*2 -> [POOL2]*N? -> {CONV1-16 | CONV3-8 -> RELU} -> FC10")
    stem, repeat, optional, branches, fc = spec.layers.items
    assert stem == Conv(32, 3, label="stem")
    assert repeat == Repeat(Seq((Conv(64, 3), Relu())), 2)
    assert optional == Opt(Repeat(Pool(2), "N"))  # [X]*N repeats X itself; '?' wraps the repeat
    assert branches == Parallel((Conv(16, 1), Seq((Conv(8, 3), Relu()))))
    assert fc == FC(10)


def test_the_seeds_generic_pattern_parses_verbatim() -> None:
    spec = ca.parse("INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC")
    assert spec.input is None  # a bare INPUT is filled by build(input_size=...)
    features, head, classifier = spec.layers.items
    assert features == Repeat(Seq((Repeat(Seq((Conv(None), Relu())), "N"), Opt(Pool()))), "M")
    assert head == Repeat(Seq((FC(None), Relu())), "K")
    assert classifier == FC(None)


def test_a_label_may_be_called_input() -> None:
    assert ca.parse("input: CONV3-8").layers.items == (Conv(8, 3, label="input"),)


def test_only_input_is_an_empty_network() -> None:
    assert ca.parse("INPUT(32x32x3)") == NetSpec(Seq(()), Volume(3, 32, 32))


# ---- errors --------------------------------------------------------------------------------------------

ERRORS = [
    # (text, line, column, fragments of the message)
    ("CONV3-64 -> RLEU", 1, 13, ["unknown layer 'RLEU'. Did you mean RELU?"]),
    ("CONV3-64 -> XYZZY", 1, 13, ["unknown layer 'XYZZY'. Known layers: BN, CONV, DROPOUT,"]),
    ("CONVV3-64", 1, 1, ["unknown layer 'CONVV3'", "Did you mean CONV3?"]),
    ("CONV3-64(strid=2)", 1, 10, ["CONV has no argument 'strid'", "Did you mean s (stride)?"]),
    ("POOL3(sride=2)", 1, 7, ["Did you mean s (stride)?", "Its arguments: f, s, p, type, ceil"]),
    ("CONV3-64 -> \n  RELU ->\n  FC10 FC10", 3, 8, ["expected '->' between two layers"]),
    ("[[CONV3-8 -> RELU]*2", 1, 21, ["the '[' opened at line 1, column 1 is never closed: add ']'"]),
    ("{CONV1-8 | CONV3-8", 1, 19, ["the '{' opened at line 1, column 1 is never closed"]),
    ("{CONV1-8}", 1, 1, ["parallel branches need at least two chains"]),
    ("CONV3-64 ->", 1, 12, ["expected a layer", "found the end of the pattern"]),
    ("[] -> FC10", 1, 2, ["an empty group '[]'"]),
    ("INPUT(32x32) -> FC10", 1, 7, ["INPUT takes a volume H x W x C"]),
    ("CONV3-8 -> INPUT(8x8x3)", 1, 12, ["INPUT can only start the pattern"]),
    ("CONV3-8 @ RELU", 1, 9, ["unexpected character '@'"]),
    ("FC10-20", 1, 1, ["FC takes at most 1 inline number(s): FC{out}"]),
    ("POOL(out=6, f=3)", 1, 1, ["an adaptive POOL(out=HxW) takes only type=max|avg, not f"]),
    ("DROPOUT(1.5)", 1, 1, ["DROPOUT probability must be in [0, 1)"]),
    ("CONV3-8(groups=0)", 1, 1, ["groups must be at least 1"]),
    ("ZEROPAD64(s=0)", 1, 1, ["s must be at least 1"]),
    ("CONV3-8(bias=yes)", 1, 1, ["bias must be true or false"]),
    ("CONV3-8(s=-1)", 1, 11, ["negative values are not allowed"]),
    ("CONV3-8(s=2, s=1)", 1, 14, ["argument s is given twice"]),
    ("CONV3-8(s=2, 64)", 1, 14, ["a positional argument cannot follow a named one"]),
    ("RELU -> [CONV3-8]*2.5", 1, 19, ["a repeat count must be a whole number"]),
    ("CONV3-8 -> DROPOUT(1e999)", 1, 20, ["numbers must be finite"]),
    (f"CONV3-{MAX_DIM + 1}", 1, 7, [f"{MAX_DIM + 1:,} is over the limit of {MAX_DIM:,}"]),
    ("FC" + "9" * 50, 1, 1, ["a number with more than 40 digits"]),
    ("FC" + "9" * 5000, 1, 1, ["a number with more than 40 digits"]),  # int() itself refuses over 4,300
    ("a: b: CONV3", 1, 4, ["unknown layer 'B'"]),
]


@pytest.mark.parametrize(("text", "line", "column", "fragments"), ERRORS, ids=[e[0][:30] for e in ERRORS])
def test_errors_give_the_position_a_caret_and_what_to_do(text: str, line: int, column: int, fragments) -> None:
    with pytest.raises(ca.PatternError) as caught:
        ca.parse(text)
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    for fragment in fragments:
        assert fragment in str(error), f"{fragment!r} not in {error}"
    source, caret = error.excerpt.split("\n")
    if len(source) < 120:  # a longer line is cut around the fault (see below)
        assert source == "  " + text.split("\n")[line - 1]
        assert caret.index("^") == len("  ") + column - 1  # the caret sits under the fault


def test_the_caret_stays_under_the_fault_after_a_tab() -> None:
    with pytest.raises(ca.PatternError) as caught:
        ca.parse("CONV3-8\t-> RLEU")
    error = caught.value
    source, caret = error.excerpt.split("\n")
    assert source[caret.index("^") :].startswith("RLEU")


def test_a_long_line_is_shown_around_the_fault() -> None:
    text = " -> ".join(["RELU"] * 100) + " -> RLEU -> " + " -> ".join(["RELU"] * 100)
    with pytest.raises(ca.PatternError) as caught:
        ca.parse(text)
    error = caught.value
    source, caret = error.excerpt.split("\n")
    assert len(source) < 140 and source[caret.index("^") :].startswith("RLEU")


def test_a_huge_misspelt_word_does_not_flood_the_message() -> None:
    with pytest.raises(ca.PatternError) as caught:
        ca.parse("X" * 50_000)
    assert len(str(caught.value)) < 1_000


def test_unbound_template_variables_are_named() -> None:
    with pytest.raises(ca.PatternError, match="unbound template variables M, N: give them a value, e.g. M=2, N=2"):
        ca.build("[[CONV -> RELU]*N -> POOL]*M -> FC")


# ---- limits: absurd input is refused fast ----------------------------------------------------------------

ABSURD = [
    ("R" * (MAX_TEXT + 1), f"the limit is {MAX_TEXT:,}"),
    ("[" * (MAX_DEPTH + 1) + "RELU" + "]" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} deep"),
    ("RELU" + "?" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} deep"),
    (f"[RELU]*{MAX_REPEAT + 1}", f"repeat count {MAX_REPEAT + 1:,} is over the limit"),
    ("[[[[RELU]*10000]*10000]*10000]*10000", f"the limit is {MAX_LAYERS:,}"),
    (" -> ".join(["RELU"] * (MAX_LAYERS + 1)), f"the limit is {MAX_LAYERS:,}"),
    ("INPUT(99999x32x3) -> FC10", f"over the limit of {MAX_DIM:,}"),
]


# A refusal at the layer limit reads all 10,000 layers first: about 0.2 s on a quiet 2-core machine, over
# 1 s on a loaded one. The bound separates that from a hang or an expansion, not fast from slow.
REFUSAL_BOUND_S = 5.0


@pytest.mark.parametrize(("text", "message"), ABSURD, ids=[m for _, m in ABSURD])
def test_absurd_patterns_are_refused_fast(text: str, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ca.PatternError, match=message):
        ca.parse(text)
    assert time.perf_counter() - start < REFUSAL_BOUND_S


def test_absurd_bindings_and_builds_are_refused_before_allocating() -> None:
    start = time.perf_counter()
    with pytest.raises(ca.PatternError, match="expands to 100,000,001 layers"):
        ca.build("[[RELU]*N]*M -> FC10", N=10_000, M=10_000)
    with pytest.raises(ca.ConfigError, match="from 0 to 10,000"):
        ca.build("[RELU]*N -> FC10", N=10**9)
    with pytest.raises(ca.SizingError, match="over the build limit"):
        ca.build("INPUT(65536x65536x3) -> CONV3-65536 -> FC65536")  # 1.8e19 parameters, refused by arithmetic
    assert time.perf_counter() - start < REFUSAL_BOUND_S


# ---- named blocks are pattern tokens -------------------------------------------------------------------


@pytest.fixture
def twin_block():
    @block("TEST_PAIR")
    def pair(width: int, s: int = 1) -> Seq:
        """Two 3x3 convs, the first strided."""
        if width == 13:
            raise KeyError("unlucky")  # a bug in a block function must still come out as a PatternError
        return Seq((Conv(width, 3, s=s), Relu(), Conv(width, 3), Relu()))

    yield pair
    BLOCKS.pop("TEST_PAIR")


def test_a_registered_block_is_a_token_with_checked_arguments(twin_block) -> None:
    spec = ca.parse("INPUT(32x32x3) -> TEST_PAIR(64, s=2) -> [test_pair(width=64)]*2 -> GAP -> FC10")
    assert spec.layers.items[0] == twin_block(64, s=2)
    assert ca.to_pattern(spec) == "INPUT(32x32x3) -> TEST_PAIR(64, s=2) -> [TEST_PAIR(64)]*2 -> GAP -> FC10"
    assert ca.analyze(spec).rows[2].output == "16x16x64"
    for text, fragment in [
        ("TEST_PAIR(64, stide=2)", "TEST_PAIR has no argument 'stide'. Did you mean s (stride)?"),
        ("TEST_PAIR()", "missing a required argument: 'width'"),
        ("TEST_PAIR(13)", "TEST_PAIR could not be made from these arguments (KeyError: 'unlucky')"),
        ("TEST_PAIR(6.5)", "TEST_PAIR: width must be a whole number, got 6.5"),  # the annotations are checked
        ("TEST_PAIR(64, s=true)", "TEST_PAIR: s must be a whole number, got true"),
        ("TEST_PAIR(1, 2, 3)", "TEST_PAIR: too many positional arguments; it takes TEST_PAIR(width, s=1)"),
        ("TEST_PAR(64)", "Did you mean TEST_PAIR?"),
    ]:
        with pytest.raises(ca.PatternError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            ca.parse(text)
