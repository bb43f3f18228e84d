"""The static report: totals and their formulas, the CS231n VGG-16 table, renderers, resolution independence."""

from __future__ import annotations

import csv
import io
import json
import re
from unittest import mock

import pytest
from tests.analysis.combinator_specs import every_combinator, resnet_like

import convarch as ca
from convarch.analysis.report import BYTES_PER_VALUE, CONVENTIONS
from convarch.spec.volume import Volume


def test_cs231n_vgg16_table_row_by_row() -> None:
    """CS231n's VGG-16 walk-through, reproduced from the compact rows (weights or a new volume)."""
    published = ca.model_info("vgg16").figures["cs231n_layers"]
    report = ca.analyze("vgg16")
    ours = [("INPUT", str(report.input), report.input.numel, 0)]
    ours += [(r.name, r.output, r.activations, r.weights) for r in report.compact_rows()]
    assert len(ours) == len(published)
    for (name, volume, activations, weights), (p_name, p_volume, p_activations, p_weights) in zip(
        ours, published, strict=True
    ):
        # The notes write every fully connected layer as plain "FC"; we name its width (FC4096).
        assert name == p_name or (p_name == "FC" and name.startswith("FC")), (name, p_name)
        assert (volume, activations, weights) == (p_volume, p_activations, p_weights), name


def test_cs231n_total_memory_slip_is_the_notes_not_ours() -> None:
    """The notes' TOTAL says 24M activations but their own rows sum to about 15.2M (a known slip)."""
    rows = ca.model_info("vgg16").figures["cs231n_layers"]
    row_sum = sum(r[2] for r in rows)
    assert 15.2e6 < row_sum < 15.3e6
    compact = ca.analyze("vgg16")
    # Our total adds only the adaptive 7x7 pool torchvision keeps (an identity at 224, but a new tensor).
    adaptive = [r for r in compact.rows if r.kind == "POOL" and "out=" in r.name]
    assert compact.activations == row_sum + sum(r.activations for r in adaptive)
    weights = sum(r[3] for r in rows)
    assert compact.weights == weights  # 138M params are these weights plus the biases


def test_totals_follow_the_stated_formulas() -> None:
    report = ca.analyze("vgg16")
    assert report.flops == 2 * report.macs
    assert report.forward_bytes == BYTES_PER_VALUE * report.activations
    assert report.param_bytes == BYTES_PER_VALUE * report.params
    assert report.training_bytes(8) == 2 * report.forward_bytes * 8 + 4 * report.param_bytes
    assert report.fc_params == sum(r.params for r in report.rows if r.kind == "FC")
    assert 0.85 < report.fc_share < 0.92  # CS231n: most of VGG's parameters are in the FC layers
    for formula in ("FLOPs = 2 x MACs", "4 bytes per activation", "Training memory", "Adam"):
        assert formula in CONVENTIONS


def test_auxiliary_heads_are_listed_but_not_totalled() -> None:
    report = ca.analyze(every_combinator())
    aux = [r for r in report.rows if r.aux]
    assert aux and all(".head." in r.path for r in aux)
    assert report.aux_params == sum(r.params for r in aux) > 0
    assert report.params == sum(r.params for r in report.rows) - report.aux_params


def test_in_place_and_view_layers_allocate_nothing() -> None:
    report = ca.analyze("alexnet")
    relu = next(r for r in report.rows if r.kind == "RELU")
    assert not relu.allocates and relu.activation_bytes == 0 and relu.activations > 0
    allocated = report.input.numel + sum(r.activations for r in report.rows if r.kind not in ("RELU", "DROPOUT"))
    assert report.activations == allocated


def test_same_rows_at_any_resolution_and_no_module_is_built() -> None:
    """The walk is integer arithmetic: at 4096x4096 the counts scale, the rows stay, nothing is built."""
    with mock.patch("torch.nn.Module.__init__", side_effect=AssertionError("a module was built")):
        small = ca.analyze(resnet_like(), input_size=(3, 224, 224))
        large = ca.analyze(resnet_like(), input_size=(3, 4096, 4096))
    assert [r.path for r in small.rows] == [r.path for r in large.rows]
    assert small.params == large.params
    first = large.rows[0]
    assert first.output == "2048x2048x64" and first.macs == 2048 * 2048 * 64 * 7 * 7 * 3


def test_input_size_keyword_and_sizing_errors() -> None:
    assert ca.analyze("vgg16", input_size=(3, 448, 448)).input == Volume(3, 448, 448)
    with pytest.raises(ca.SizingError, match="collapses"):
        ca.analyze("alexnet", input_size=(3, 8, 8))


def test_json_rendering_carries_rows_totals_and_conventions() -> None:
    report = ca.analyze("lenet5")
    data = json.loads(report.to_json())
    assert data["conventions"] == CONVENTIONS and data["source"] == "spec"
    assert data["totals"]["params"] == report.params and data["totals"]["training_bytes"] == report.training_bytes()
    assert [row["name"] for row in data["rows"]] == [r.name for r in report.rows]


def test_csv_rendering_states_the_conventions_in_a_comment_line() -> None:
    report = ca.analyze("lenet5")
    lines = report.to_csv().splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert any(CONVENTIONS in line for line in comments)
    rows = list(csv.DictReader(io.StringIO("\n".join(line for line in lines if not line.startswith("#")))))
    assert len(rows) == len(report.rows)
    assert sum(int(r["params"]) for r in rows) == report.params
    assert rows[0]["output"] == report.rows[0].output


def test_html_and_rich_renderings() -> None:
    report = ca.analyze("vgg16")
    page = report._repr_html_()
    assert page.startswith("<table") and "CONV3-64" in page and "138,357,544" in page
    assert "Training memory (estimate)" in page  # the conventions, HTML-escaped text
    table = report.to_table(compact=True)
    assert table.caption.endswith(CONVENTIONS) and "138,357,544" in table.caption
    assert table.row_count == len(report.compact_rows()) + 2  # INPUT and TOTAL
    hidden = len(report.rows) - len(report.compact_rows())  # the total is the network's, not the listed rows'
    assert hidden and f"TOTAL (with {hidden} rows not listed)" in str(table.columns[1]._cells)
    assert "not listed" not in str(report.to_table().columns[1]._cells)


def test_walk_prints_a_layer_only_to_report_an_error() -> None:
    """Core change for speed (spec/layers.py window_sizes): the text is made for the error message only."""
    from convarch.spec.layers import Conv, Layer, Pool, Subsample
    from convarch.spec.walk import trace

    calls = []
    original = Layer.text

    def counting(self: Layer) -> str:
        calls.append(self)
        return original(self)

    with mock.patch.object(Layer, "text", counting):
        trace(resnet_like())
        assert calls == []
        for layer, text in ((Conv(8, 5, p=0), "CONV5-8(p=0)"), (Pool(4), "POOL4"), (Subsample(4), "SUBSAMPLE4")):
            with pytest.raises(ca.SizingError, match=rf"^{re.escape(text)}: the volume collapses"):
                layer.output(Volume(3, 3, 3))


def test_a_report_and_its_table_print_as_the_table() -> None:
    """print(report) dumped the dataclass, print(report.to_table()) '<rich.table.Table object at ...>'."""
    report = ca.analyze("INPUT(32x32x3) -> CONV3-8 -> RELU -> GAP -> FC10")
    for shown in (str(report), str(report.to_table()), str(report.to_table(compact=True))):
        assert "object at" not in shown and "Row(" not in shown and "\x1b[" not in shown
        assert "CONV3-8" in shown and "32x32x8" in shown and "221,184" in shown and "TOTAL" in shown
    assert "(in place)" in str(report) and "(in place)" not in str(report.to_table(compact=True))
