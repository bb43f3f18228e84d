"""The explorer's JSON API: the public API's answers, serialised, and every user mistake as a 4xx."""

from __future__ import annotations

import json

import pytest
from tests.explorer.explorer_client import SEED, Client

import convarch as ca
from convarch.explorer.endpoints import MAX_COMPARE_MODELS, MAX_SWEEP_INSTANCES


def test_analyze_returns_the_report_as_to_json_does(client: Client) -> None:
    reply = client.get("/api/analyze", model="resnet18")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.body.decode() == ca.analyze("resnet18").to_json(indent=None)


def test_analyze_binds_a_template_with_the_query(client: Client) -> None:
    reply = client.get("/api/analyze", pattern=SEED, input="48x48x3", N="1", M="2", K="0", num_classes="7")
    expected = ca.analyze(SEED, input_size=(3, 48, 48), N=1, M=2, K=0, num_classes=7)
    assert reply.json() == json.loads(expected.to_json())
    assert reply.json()["rows"][-1]["output"] == "1x1x7"


def test_a_syntax_error_is_422_with_line_column_and_caret(client: Client) -> None:
    reply = client.get("/api/analyze", pattern="INPUT(32x32x3)\n-> CONV3-16 ->> POOL2")
    assert reply.status == 422
    error = reply.json()["error"]
    assert error["type"] == "PatternError"
    assert (error["line"], error["column"]) == (2, 15)
    assert error["excerpt"].splitlines()[-1].strip() == "^"
    assert "unexpected character '>'" in error["reason"]


@pytest.mark.parametrize(
    ("query", "status", "kind", "words"),
    [
        ({"model": "vgg17"}, 404, "UnknownModelError", "Did you mean"),
        ({"pattern": "INPUT(8x8x3) -> CONV11-4(p=0) -> FC10"}, 422, "SizingError", "collapses"),
        ({"pattern": SEED, "N": "2", "M": "2", "K": "1", "Q": "3"}, 422, "ConfigError", "not a template variable"),
        ({"pattern": SEED, "input": "32x32", "N": "2", "M": "2", "K": "1"}, 422, "ConfigError", "input must be a"),
        ({"pattern": SEED}, 422, "PatternError", "unbound template variables"),
        ({}, 422, "ConfigError", "pattern=TEXT or model=NAME"),
        ({"pattern": "FC10", "model": "alexnet"}, 422, "ConfigError", "either"),
        ({"model": "alexnet", "num_classes": "ten"}, 422, "ConfigError", "whole number"),
        ({"model": "alexnet", "num_classes": "99999999999999999999"}, 422, "ConfigError", "too large"),
        ({"model": "alexnet", "num_classes": "65537"}, 422, "ConfigError", "the limit is 65,536"),
    ],
)
def test_every_convarch_error_is_a_4xx_with_its_type_and_message(
    client: Client, query: dict[str, str], status: int, kind: str, words: str
) -> None:
    reply = client.get("/api/analyze", **query)
    assert reply.status == status
    assert reply.json()["error"]["type"] == kind
    assert words in reply.json()["error"]["message"]


def test_check_lists_the_findings_with_their_layers(client: Client) -> None:
    pattern = "INPUT(227x227x3) -> CONV11-96(s=4, p=0) -> RELU -> POOL3(s=2) -> CONV5-256 -> RELU -> POOL5 -> FC10"
    findings = client.get("/api/check", pattern=pattern).json()["findings"]
    expected = ca.check(pattern)
    assert [(f["severity"], f["rule"], f["layer"], f["index"], f["message"]) for f in findings] == [
        (f.severity, f.rule, f.layer, f.index, f.message) for f in expected
    ]
    assert any(f["rule"] == "fractional-size" and f["layer"] == "features.pool2" for f in findings)


def test_variables_and_pattern_and_models(client: Client) -> None:
    assert client.get("/api/variables", pattern=SEED).json() == {"variables": ["N", "M", "K"], "input": None}
    assert client.get("/api/variables", model="lenet5").json() == {"variables": [], "input": "32x32x1"}
    assert client.get("/api/pattern", model="vgg11").json()["pattern"] == ca.to_pattern("vgg11")
    models = client.get("/api/models").json()["models"]
    assert [m["name"] for m in models] == ca.list_models()
    assert {"name": "alexnet", "family": "alexnet", "year": 2012, "input": "224x224x3"} in models
    assert client.get("/api/info", model="alexnet").json() == ca.model_info("alexnet").to_dict()


def test_sweep_gives_every_instance_and_a_chart(client: Client) -> None:
    query = {"pattern": SEED, "N": "1..2", "M": "2,3", "K": "1"}
    instances = client.get("/api/sweep", **query).json()["instances"]
    assert [i["values"] for i in instances] == [{"N": n, "M": m, "K": 1} for n in (1, 2) for m in (2, 3)]
    expected = ca.analyze(SEED, N=2, M=3, K=1)
    assert instances[-1]["params"] == expected.params and instances[-1]["macs"] == expected.macs
    chart = client.get("/api/sweep.svg", **query)
    assert chart.status == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert chart.body.lstrip().startswith(b"<?xml") and b"<svg" in chart.body


def test_sweep_and_compare_are_bounded(client: Client) -> None:
    too_many = client.get("/api/sweep", pattern=SEED, N="1..100", M="1..10", K="1")
    assert too_many.status == 422 and f"limit of {MAX_SWEEP_INSTANCES}" in too_many.json()["error"]["message"]
    names = ",".join(ca.list_models()[: MAX_COMPARE_MODELS + 1])
    assert client.get("/api/compare", models=names).status == 422
    assert client.get("/api/compare", models="alexnet,INPUT -> FC10").json()["error"]["type"] == "UnknownModelError"


def test_compare_puts_the_models_on_the_chart(client: Client) -> None:
    rows = client.get("/api/compare", models="alexnet,resnet18").json()["models"]
    assert [(r["name"], r["params"]) for r in rows] == [(n, ca.analyze(n).params) for n in ("alexnet", "resnet18")]
    chart = client.get("/api/compare.svg", models="alexnet,resnet18")
    assert chart.status == 200 and chart.headers["content-type"] == "image/svg+xml" and b"<svg" in chart.body


def test_a_long_pattern_can_be_posted(client: Client) -> None:
    pattern = "INPUT(32x32x3) -> " + " -> ".join(["CONV3-8 -> RELU"] * 2000) + " -> FC10"
    body = f"pattern={pattern}".replace(" ", "+").replace(">", "%3E").encode()
    reply = client.request("POST", "/api/analyze", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200 and len(reply.json()["rows"]) == 4001


def test_num_classes_0_removes_the_classifier_as_the_library_does(client: Client) -> None:
    for query, source in [({"model": "alexnet"}, "alexnet"), ({"pattern": "INPUT(32x32x3) -> CONV3-8 -> FC10"}, None)]:
        reply = client.get("/api/analyze", **query, num_classes="0")
        expected = ca.analyze(source or query["pattern"], num_classes=0)
        assert reply.json() == json.loads(expected.to_json())
        assert not reply.json()["rows"][-1]["name"].startswith("FC")  # no FC0: the classifier is gone


def test_info_needs_a_model_name(client: Client) -> None:
    reply = client.get("/api/info", pattern="INPUT")
    assert reply.status == 422 and reply.json()["error"]["type"] == "ConfigError"
    assert "model=NAME" in reply.json()["error"]["message"]


def test_errors_speak_the_api_not_the_command_line(client: Client) -> None:
    reply = client.get("/api/compare.svg", models="resnet20")
    assert reply.status == 422 and "resnet20" in reply.json()["error"]["message"]
    assert "--" not in reply.json()["error"]["message"] and "/api/info" in reply.json()["error"]["message"]
    plain = client.get("/api/draw", model="vgg11", style="block").json()["error"]["message"]
    assert "no composite block" in plain and "style='volumes'" in plain and "--" not in plain


def test_variables_answers_half_typed_text_with_its_error(client: Client) -> None:
    """The page asks it on every pause in typing: a text that does not read is an answer, not a failure."""
    reply = client.get("/api/variables", pattern="INPUT -> [[CONV -> RELU]*N")
    assert reply.status == 200 and reply.json()["variables"] == []
    try:
        ca.parse("INPUT -> [[CONV -> RELU]*N")
    except ca.PatternError as error:
        assert reply.json()["error"]["message"] == str(error) and reply.json()["error"]["line"] == error.line


def test_an_empty_binding_is_named_in_api_words(client: Client) -> None:
    reply = client.get("/api/analyze", pattern=SEED, N="", M="3", K="1")
    assert reply.status == 422 and "N has no value" in reply.json()["error"]["message"]
    assert "--set" not in reply.json()["error"]["message"]


def test_a_bad_binding_or_input_is_named_in_api_words(client: Client) -> None:
    reply = client.get("/api/analyze", pattern=SEED, N="1 2", M="3", K="1")
    message = reply.json()["error"]["message"]
    assert reply.status == 422 and "a binding takes NAME=VALUE such as N=2, got 'N=1 2'" in message
    reply = client.get("/api/analyze", pattern="INPUT -> CONV3-8 -> GAP -> FC10", input="3x224x224")
    message = reply.json()["error"]["message"]
    assert reply.status == 422 and message.startswith("input 3x224x224 reads as 224 channels") and "--" not in message
