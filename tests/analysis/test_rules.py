"""The sizing checker: each rule fires where the seed's advice is broken, shows the arithmetic, and its fix works."""

from __future__ import annotations

import re

import pytest

import convarch as ca
from convarch.analysis.findings import RULES, Finding, counts, has_errors
from convarch.spec.layer_base import PRIMITIVES
from convarch.spec.layers import BN, FC, GAP, Conv, Relu
from convarch.spec.nodes import NetSpec, Residual, Seq
from convarch.spec.volume import Volume, window_output

# (pattern, rule, severity, layer path, fragments the message must contain)
CASES = [
    ("INPUT(16x16x3) -> CONV3-8(s=2, p=0) -> GAP -> FC10", "fractional-size", "error", "features.conv1",
     ["(W − F + 2P)/S + 1 = (16 − 3 + 0)/2 + 1 = 7.5 -> floor 7", "drops the last row and the last column",
      "an input image of 15x15 or 17x17"]),
    ("INPUT(16x16x3) -> CONV3-8(s=3, p=0) -> GAP -> FC10", "fractional-size", "error", "features.conv1",
     ["(16 − 3 + 0)/3 + 1 = 5.33333 -> floor 5", "p=1, which gives (W − F + 2P)/S + 1 = (16 − 3 + 2)/3 + 1 = 6"]),
    ("INPUT(16x15x3) -> CONV3-8(s=2, p=0) -> GAP -> FC10", "fractional-size", "error", "features.conv1",
     ["(H − F + 2P)/S + 1 = (16 − 3 + 0)/2 + 1 = 7.5 -> floor 7; (W − F + 2P)/S + 1 = (15 − 3 + 0)/2 + 1 = 7",
      "drops the last row of the input"]),
    ("INPUT(112x112x64) -> POOL3(s=2) -> GAP -> FC10", "fractional-size", "error", "features.pool1",
     ["(112 − 3 + 0)/2 + 1 = 55.5 -> floor 55", "ceil=true to round up as Caffe did"]),
    ("INPUT(224x224x3) -> CONV7-64(s=2) -> GAP -> FC10", "floor-in-padding", "info", "features.conv1",
     ["(224 − 7 + 6)/2 + 1 = 112.5 -> floor 112", "1 of the 3 zero-padding rows/columns"]),
    ("INPUT(56x56x64) -> CONV1-128(s=2) -> GAP -> FC10", "floor-in-padding", "info", "features.conv1",
     ["(56 − 1 + 0)/2 + 1 = 28.5 -> floor 28", "stride 2 skips between its 1-wide windows"]),
    ("INPUT(112x112x64) -> POOL3(s=2, ceil=true) -> GAP -> FC10", "ceil-rounding", "info", "features.pool1",
     ["(112 − 3 + 0)/2 + 1 = 55.5 -> ceil 56", "intended, not an error"]),
    ("INPUT(8x8x3) -> [CONV3-8 -> POOL2]*4 -> GAP -> FC10", "collapsed-volume", "error", "features.pool4",
     ["(H − F + 2P)/S + 1 = (1 − 2 + 0)/2 + 1 = 0.5 -> floor 0", "use a larger input"]),
    ("INPUT(8x8x32) -> RES(16, shortcut=zeropad) -> GAP -> FC10", "channel-mismatch", "error",
     "features.0.shortcut.zeropad1", ["cannot zero-pad 32 channels down to 16", "projection shortcut"]),
    ("INPUT(8x8x3) -> CONV3-8(groups=2) -> GAP -> FC10", "channel-mismatch", "error", "features.conv1",
     ["groups=2 must divide both the input channels (3) and the filters (8)"]),
    ("INPUT(32x32x3) -> {CONV3-8 | CONV3-8(s=2)} -> GAP -> FC10", "branch-mismatch", "error", "features.0",
     ["branch1: 32x32x8, branch2: 16x16x8"]),
    ("INPUT(8x8x3) -> FC10 -> POOL2", "spatial-after-flat", "error", "pre_logits.pool1",
     ["receives the flat vector 1x1x10", "Move it before the first FC"]),
    ("INPUT(8x8x3) -> POOL2(p=2) -> GAP -> FC10", "volume-error", "error", "features.pool1",
     ["more than half the window"]),
    ("INPUT(227x227x3) -> CONV11-96(s=4, p=0) -> POOL3(s=2) -> GAP -> FC10", "input-divisibility", "info", "INPUT",
     ["downsample by 2^3 = 8", "227 = 28 × 8 + 3 is not divisible by 8",
      "Every layer still works out at this size"]),
    ("INPUT(34x34x3) -> [CONV3-8 -> POOL2]*2 -> GAP -> FC10", "input-divisibility", "warning", "INPUT",
     ["downsample by 2^2 = 4", "34 = 8 × 4 + 2", "Use 32 or 36, at which every layer works out too",
      "see the fractional-size errors"]),
    ("INPUT(227x227x3) -> CONV11-96(s=4, p=0) -> GAP -> FC10", "large-filter", "info", "features.conv1",
     ["a 11x11 filter on the first layer", "AlexNet"]),
    ("INPUT(32x32x3) -> CONV3-8 -> CONV7-16 -> GAP -> FC10", "large-filter", "warning", "features.conv2",
     ["7×7×8×16 = 6,272 weights", "3×3×8×16 + 2×3×3×16×16 = 5,760", "[CONV3-16 -> RELU]*3"]),
    ("INPUT(32x32x1) -> CONV5-6(p=0) -> GAP -> FC10", "padding-not-same", "warning", "features.conv1",
     ["(32 − 5 + 0)/1 + 1 = 28", "shrinks 32x32 to 28x28", "p=2 = (F − 1)/2 keeps 32x32"]),
    ("INPUT(32x32x1) -> CONV2-6 -> GAP -> FC10", "padding-not-same", "warning", "features.conv1",
     ["an even filter (2x2) cannot keep the size"]),
    ("INPUT(5x5x16) -> CONV5-120(p=0) -> FC10", "padding-not-same", "info", "features.conv1",
     ["covers its whole input", "FC layer written as a convolution"]),
    ("INPUT(32x32x8) -> POOL5 -> GAP -> FC10", "large-pool", "warning", "features.pool1",
     ["32x32 -> 6x6 keeps 36 of 1,024 values per channel (3.5%)", "too lossy"]),
    ("INPUT(32x32x3) -> [CONV3-8 -> POOL2]*5 -> POOL(out=7, type=avg) -> FC64 -> FC10", "adaptive-upsample",
     "warning", "pre_logits.pool6", ["an adaptive pool to 7x7 from a smaller map repeats each value 49 times",
                                     "FC64 after it takes 392 inputs where 8 carry everything",
                                     "25,152 params where 576 would do", "pool to 1x1"]),
    ("INPUT(32x32x3) -> CONV3-8 -> FC10", "fc-dominates", "warning", "classifier",
     ["8,192 × 10 + 10 = 81,930 params, 99.7% of 82,154", "GAP -> FC10 needs 8 × 10 + 10 = 90"]),
    ("INPUT(32x32x3) -> GAP -> FC64 -> FC4096 -> FC10", "fc-dominates", "warning", "pre_logits.fc2",
     ["64 × 4,096 + 4,096 = 266,240 params, 86.6% of 307,466", "use fewer units"]),
    ("INPUT(4096x4096x3) -> CONV3-256 -> FC4096", "build-limit", "error", "network",
     ["over the build limit of 2,000,000,000"]),
    ("INPUT(32x32x3) -> CONV3-16 -> BN -> CONV3-16 -> RELU -> GAP -> FC10", "linear-stack", "info",
     "features.conv2", ["follows CONV3-16 (features.conv1) with nothing nonlinear between them",
                        "linear bottleneck (MobileNetV2", "put a RELU between them"]),
    ("INPUT(32x32x3) -> CONV3-16 -> RELU -> GAP -> FC10 -> RELU", "activation-on-scores", "warning",
     "pre_logits.relu2", ["after the last FC (pre_logits.fc1)", "clips every negative class score to 0",
                          "Fix: remove the RELU"]),
    ("INPUT(32x32x3) -> CONV3-16 -> RELU -> GAP -> FC10 -> SOFTMAX", "softmax-output", "info", "post.softmax1",
     ["after the last FC (classifier)", "outputs probabilities, not logits", "log-softmax itself"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "rule", "severity", "layer", "fragments"), CASES, ids=[c[1] for c in CASES])
def test_each_rule_fires_with_its_arithmetic_and_a_fix(text, rule, severity, layer, fragments) -> None:
    findings = [f for f in ca.check(text) if f.rule == rule]
    assert len(findings) == 1, [str(f) for f in ca.check(text)]
    finding = findings[0]
    assert (finding.severity, finding.layer) == (severity, layer), str(finding)
    for fragment in fragments:
        assert fragment in finding.message, f"{fragment!r} not in {finding.message!r}"


def test_every_rule_in_the_catalogue_has_a_case() -> None:
    assert {case[1] for case in CASES} == set(RULES)


@pytest.mark.parametrize(
    "text",
    [
        "INPUT(32x32x3) -> [[CONV3-32 -> RELU]*2 -> POOL2]*3 -> GAP -> FC10",
        "INPUT(224x224x3) -> CONV7-64(s=2, p=3) -> POOL3(s=2, p=1) -> [CONV3-64 -> BN -> RELU]*2 -> GAP -> FC10",
        "INPUT(64x64x3) -> {CONV1-16 | CONV3-16 | POOL3(s=1, p=1)} -> POOL2 -> GAP -> DROPOUT -> FC10",
    ],
)
def test_nets_that_follow_the_rules_get_no_errors_or_warnings(text: str) -> None:
    assert [str(f) for f in ca.check(text) if f.severity != "info"] == []


def test_a_suggested_input_size_really_makes_every_layer_work_out() -> None:
    text = "INPUT(32x32x3) -> CONV3-8 -> POOL2 -> CONV3-16(s=2, p=0) -> POOL2 -> GAP -> FC10"
    errors = [f for f in ca.check(text) if f.rule == "fractional-size"]
    assert [f.layer for f in errors] == ["features.conv2", "features.pool2"]  # 16 -> 7.5 -> 7, then 7 -> 3.5
    assert "an input image of 26x26 or 34x34" in errors[0].message
    for size in (26, 34):
        assert not has_errors(ca.check(text, input_size=(3, size, size)))


def test_a_suggested_padding_really_makes_the_layer_exact() -> None:
    (error,) = ca.check("INPUT(16x16x3) -> CONV3-8(s=3, p=0) -> GAP -> FC10")[:1]
    assert "p=1" in error.message
    assert window_output(16, 3, 3, 1).exact and not window_output(16, 3, 3, 0).exact


def test_the_large_filter_allowance_is_for_the_first_conv_only() -> None:
    """AlexNet's 11x11/4 and ZFNet's 7x7/2 are allowed on the first layer; the same 7x7 later is not."""
    first = ca.check("INPUT(224x224x3) -> CONV7-64(s=2, p=3) -> GAP -> FC10")
    later = ca.check("INPUT(224x224x3) -> CONV3-64 -> CONV7-64(s=2, p=3) -> GAP -> FC10")
    assert not [f for f in first if f.rule == "large-filter"]
    assert [f.severity for f in later if f.rule == "large-filter"] == ["warning"]
    factorised = ca.check("INPUT(17x17x64) -> CONV3-64 -> CONV1x7-64 -> CONV7x1-64 -> GAP -> FC10")
    assert not [f for f in factorised if f.rule == "large-filter"]


def test_a_classifier_on_pooled_features_does_not_dominate() -> None:
    """Its width is the class count: "use fewer units" would be wrong, and --strict must pass the docs' nets."""
    assert ca.check("INPUT(112x112x64) -> POOL3(s=2, ceil=true) -> GAP -> FC10")[0].rule == "ceil-rounding"
    assert [f.rule for f in ca.check("INPUT(8x8x3) -> CONV3-8 -> RELU -> GAP -> FC10")] == []
    # the last FC gives the scores even when a mistake after it leaves the network without a classifier part
    assert [f.rule for f in ca.check("INPUT(8x8x3) -> GAP -> FC10 -> RELU")] == ["activation-on-scores"]
    hidden = ca.check("INPUT(32x32x3) -> GAP -> FC64 -> FC4096 -> FC10")  # a hidden FC can be narrower
    assert [f.layer for f in hidden if f.rule == "fc-dominates"] == ["pre_logits.fc2"]


def test_relu6_after_the_last_fc_clips_the_scores() -> None:
    """MobileNetV2's activation (Sandler et al. §3.4) belongs after hidden layers, as RELU does."""
    [finding] = ca.check("INPUT(32x32x3) -> CONV3-16 -> RELU6 -> GAP -> FC10 -> RELU6")
    assert (finding.rule, finding.severity, finding.layer) == ("activation-on-scores", "warning", "pre_logits.relu6_2")
    assert "clips every class score to [0, 6]" in finding.message and "remove the RELU6" in finding.message
    assert ca.check("INPUT(32x32x3) -> CONV3-16 -> RELU6 -> GAP -> FC64 -> RELU6 -> FC10") == []  # a hidden FC's


def test_the_squashing_activations_are_facts_of_their_primitives() -> None:
    """The rule reads ``Layer.on_scores``: each primitive that declares it is flagged after the last FC."""
    squashers = sorted(token for token, cls in PRIMITIVES.items() if cls.on_scores)
    assert squashers == ["RELU", "RELU6", "SIGMOID", "TANH"]
    for token in squashers:
        findings = ca.check(f"INPUT(8x8x3) -> GAP -> FC10 -> {token}")
        assert [f.rule for f in findings] == ["activation-on-scores"], token
        assert f"which gives the class scores, it {PRIMITIVES[token].on_scores}." in findings[0].message
    for token in ("BN", "DROPOUT"):  # affine after the scores: not a squashing activation
        assert ca.check(f"INPUT(8x8x3) -> GAP -> FC10 -> {token}") == [], token


@pytest.mark.parametrize(
    "text",
    [
        # Two linear layers in different branches are not stacked; nor is a CONV on the concatenation.
        "INPUT(16x16x8) -> {CONV1-8 | CONV3-8} -> CONV1-8 -> RELU -> GAP -> FC10",
        # A max POOL is nonlinear; an auxiliary tap sits on the main path without breaking anything.
        "INPUT(16x16x3) -> CONV3-8 -> POOL2 -> CONV3-8 -> RELU -> GAP -> FC10",
    ],
)
def test_linear_stacks_follow_the_data_not_the_layer_order(text: str) -> None:
    assert [str(f) for f in ca.check(text) if f.rule == "linear-stack"] == []


def test_a_linear_bottleneck_before_a_residual_add_is_not_flagged() -> None:
    """MobileNetV2's inverted residual (Sandler et al. §3.2): expand, depthwise, then a linear 1x1 projection
    with BN and no activation before the add; the next block's 1x1 expansion follows the sum."""
    body = Seq((Conv(64, 1), BN(), Relu(), Conv(64, 3, groups=64), BN(), Relu(), Conv(16, 1), BN()))
    spec = NetSpec(Seq((Residual(body), Conv(64, 1), BN(), Relu(), GAP(), FC(10))), Volume(16, 16, 16))
    assert ca.check(spec) == []


def test_a_linear_stack_is_found_through_affine_layers_and_across_the_head() -> None:
    findings = ca.check("INPUT(16x16x3) -> CONV3-8 -> RELU -> CONV3-8 -> DROPOUT -> POOL(f=2, type=avg) -> GAP -> FC10")
    assert [(f.rule, f.severity, f.layer) for f in findings] == [("linear-stack", "info", "classifier")]
    assert "follows CONV3-8 (features.conv2)" in findings[0].message


def test_a_global_max_pool_is_not_too_lossy() -> None:
    assert not [f for f in ca.check("INPUT(7x7x8) -> POOL7 -> FC10") if f.rule == "large-pool"]
    assert not [f for f in ca.check("INPUT(32x32x8) -> POOL(f=5, type=avg) -> GAP -> FC10") if f.rule == "large-pool"]


def test_a_residual_body_without_a_shortcut_is_a_channel_mismatch() -> None:
    spec = NetSpec(Seq((Conv(32), Residual(Seq((Conv(64), Relu()))))), Volume(3, 8, 8))
    (finding,) = ca.check(spec)
    assert (finding.rule, finding.severity, finding.layer) == ("channel-mismatch", "error", "features.0")
    assert "turns 8x8x32 into 8x8x64" in finding.message


def test_layers_before_a_failure_are_still_checked() -> None:
    findings = ca.check("INPUT(32x32x3) -> CONV3-8 -> CONV7-8 -> FC10 -> POOL2")
    assert [f.rule for f in findings] == ["large-filter", "spatial-after-flat"]


def test_templates_are_bound_with_the_same_keywords_as_build() -> None:
    seed = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
    findings = ca.check(seed, input_size=(3, 32, 32), num_classes=10, N=2, M=3, K=1)
    assert [f.rule for f in findings] == ["fc-dominates"]  # FC256 on 4x4x128
    assert "524,544 params, 64.4% of 814,122" in findings[0].message
    assert ca.check(seed, input_size=(3, 32, 32), N=1, M=5, K=0) == []  # five pools: 1x1 before the FC


def test_a_template_that_cannot_be_bound_is_an_error_finding() -> None:
    (finding,) = ca.check("[CONV3-8 -> POOL2]*N -> FC10", input_size=(3, 32, 32), N=6)
    assert (finding.rule, finding.severity) == ("collapsed-volume", "error")


def test_keyword_mistakes_are_refused_with_the_real_variables() -> None:
    with pytest.raises(ca.ConfigError, match="its variables are N.*Did you mean N"):
        ca.check("[CONV3-8 -> RELU]*N -> GAP -> FC10", n2=3)
    with pytest.raises(ca.PatternError, match="unbound template variables K, N"):
        ca.check("[CONV3-8]*N -> [FC]*K -> FC10")
    with pytest.raises(ca.PatternError, match="line 1, column 12"):
        ca.check("CONV3-8 -> RLEU")


def test_findings_print_as_one_line_each_and_count_by_severity() -> None:
    finding = Finding("warning", "large-pool", "features.pool1", "POOL5 on 32x32x8: ...", 3)
    assert str(finding) == "warning [large-pool] #3 features.pool1: POOL5 on 32x32x8: ..."
    findings = ca.check("INPUT(32x32x8) -> POOL5 -> FC10")
    assert counts(findings) == {"error": 1, "warning": 3, "info": 0}
    assert has_errors(findings)


@pytest.mark.parametrize("name", ["alexnet_paper", "zfnet", "inception_v4", "lenet5_paper"])
def test_the_divisibility_advice_never_breaks_the_network(name: str) -> None:
    """A net sized for an input that is not a multiple of its strides gets a note, not sizes that break it."""
    for finding in ca.check(name):
        if finding.rule == "input-divisibility":
            assert finding.severity == "info" and "Use " not in finding.message, finding.message


def test_suggested_divisible_sizes_work_out() -> None:
    pattern = "INPUT(34x34x3) -> [CONV3-8 -> POOL2]*2 -> GAP -> FC10"
    message = next(f.message for f in ca.check(pattern) if f.rule == "input-divisibility")
    sizes = [int(s) for s in re.search(r"Use (\d+) or (\d+),", message).groups()]
    for size in sizes:
        assert not [f for f in ca.check(pattern, input_size=(3, size, size)) if f.severity == "error"], size


def test_without_a_classifier_the_last_hidden_fc_s_relu_is_not_an_activation_on_scores() -> None:
    pattern = "INPUT(16x16x3) -> CONV3-8 -> RELU -> GAP -> FC32 -> RELU -> FC10"
    assert "activation-on-scores" not in {f.rule for f in ca.check(pattern, num_classes=0)}  # ends in FC32 -> RELU
    vgg = {f.rule for f in ca.check("vgg16", num_classes=0)}
    assert "activation-on-scores" not in vgg and "fc-dominates" in vgg  # the other rules still apply
    assert "activation-on-scores" in {f.rule for f in ca.check(pattern + " -> RELU")}  # a real one still fires
