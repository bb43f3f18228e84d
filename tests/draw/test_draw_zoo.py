"""Every zoo model draws in every style, legibly, with the report's own numbers and paths.

Legibility is checked from the SVG itself: text and box extents are computed with the font metrics the
layout used (DejaVu Sans), and no label may overlap another label or a box it does not belong to.
"""

from __future__ import annotations

import re

import pytest
from tests.draw.geometry import collisions, read

import convarch as ca
from convarch.analysis.render import human
from convarch.api import bound_spec
from convarch.draw.reading import Merge, read_network
from convarch.draw.style import arrow_lines

MODELS = ca.list_models()
WHOLE = 9  # a depth that opens every level of every zoo model


def composite_free(name: str) -> bool:
    return name.startswith(("lenet", "alexnet", "vgg", "zfnet"))


@pytest.mark.parametrize("style", ["volumes", "block", "graph"])
def test_every_zoo_model_draws_legibly_in_every_style(style: str) -> None:
    problems = {}
    for name in MODELS:
        if style == "block" and composite_free(name):
            with pytest.raises(ca.ConfigError, match="no composite block.*style='volumes'"):
                ca.draw(name, style=style)
            continue
        found = collisions(ca.draw(name, style=style).svg)
        if found:
            problems[name] = found[:3]
    assert not problems


def test_labels_stay_apart_when_everything_is_opened() -> None:
    for name in ("googlenet_paper", "resnet18", "inception_resnet_v2", "densenet121", "alexnet_paper"):
        for style in ("volumes", "graph"):
            assert not collisions(ca.draw(name, style=style, depth=WHOLE).svg), (name, style)


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "googlenet_paper", "densenet121", "inception_v4"])
def test_every_number_on_a_figure_is_the_reports(name: str) -> None:
    """Volume labels and operation labels of the volumes style; params and MACs of the graph style."""
    rows = {row.path: row for row in ca.analyze(name).rows}
    labels, _ = read(ca.draw(name, depth=WHOLE).svg)
    checked = 0
    for label in labels:
        row = rows.get(label.path)
        if row is None:
            continue
        if label.cls == "label":
            assert label.text == row.output, label
            checked += 1
        elif label.cls == "op" and label.bold:
            assert re.sub(r" x\d+$", "", label.text) == arrow_lines(row.name)[0], label
            checked += 1
    assert checked >= 10
    graph, _ = read(ca.draw(name, style="graph").svg)
    totals = [label for label in graph if " params · " in label.text]
    for label in totals:
        volume, params, macs = re.fullmatch(r"(.*) · (.*) params · (.*) MACs", label.text).groups()
        if label.path in rows:
            assert volume == rows[label.path].output, label
        mine = [r for path, r in rows.items() if path == label.path or path.startswith(label.path + ".")]
        run = [lab.text for lab in graph if lab.path == label.path and " ... " in lab.text]
        if run:  # a run of identical blocks: the totals cover every member
            first, last = run[0].split(" ... ")
            stem, a, b = first.rsplit(".", 1)[0], int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1])
            members = [f"{stem}.{i}" for i in range(a, b + 1)]
            mine = [r for p, r in rows.items() if any(p.startswith(m + ".") for m in members)]
        mine = [r for r in mine if not r.aux]
        assert params == human(sum(r.params for r in mine)), label
        assert macs == human(sum(r.macs for r in mine)), label
    assert totals


@pytest.mark.parametrize("name", ["googlenet", "googlenet_paper", "inception_v4", "inception_resnet_v2"])
@pytest.mark.parametrize("style", ["volumes", "block"])
def test_every_branch_of_every_inception_module_appears(name: str, style: str) -> None:
    spec, volume, _ = bound_spec(name)
    network = read_network(spec, volume)
    merges = [p for p in network.parts_by_path.values() if isinstance(p, Merge) and p.how == "concat"]
    svg = ca.draw(name, style=style, depth=WHOLE).svg
    drawn = set(re.findall(r'data-path="([^"]+)"', svg))
    each = style == "block" and name.startswith("googlenet")  # each INCEPTION, selected by its path
    if style == "block" and not each:  # one figure per block type: every module drawn has all its branches
        merges = [merge for merge in merges if merge.path in drawn]
        assert len(merges) >= 2
    for merge in merges:
        if each:
            drawn = set(re.findall(r'data-path="([^"]+)"', ca.draw(name, style=style, at=merge.path).svg))
        for branch in merge.branches:
            assert branch.path in drawn, branch.path
        assert merge.path in drawn


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "preact_resnet18", "resnet20", "inception_resnet_v2"])
@pytest.mark.parametrize("style", ["volumes", "block", "graph"])
def test_every_shortcut_of_every_residual_appears(name: str, style: str) -> None:
    spec, volume, _ = bound_spec(name)
    network = read_network(spec, volume)
    residuals = [p for p in network.parts_by_path.values() if isinstance(p, Merge) and p.how == "add"]
    svg = ca.draw(name, style=style, depth=WHOLE).svg
    shortcuts = set(re.findall(r'class="shortcut" data-path="([^"]+)"', svg))
    for merge in residuals if style != "block" else residuals[:1]:
        expected = merge.shortcut.path if merge.shortcut is not None else merge.path
        assert expected in shortcuts, expected
    if style != "block":
        projections = [m for m in residuals if m.shortcut is not None]
        assert len(shortcuts) == len(residuals) and (projections or name == "inception_resnet_v2")


def test_repeated_blocks_collapse_by_default_and_depth_opens_them() -> None:
    collapsed = ca.draw("resnet152").svg
    assert "x35" in collapsed  # layer3: BOTTLENECK(256, s=2), then 35 identical blocks
    members = re.search(r'data-path="features.layer3.1" data-members="([^"]+)"', collapsed).group(1).split()
    assert members == [f"features.layer3.{i}" for i in range(1, 36)]  # the box stands for every one of them
    opened = ca.draw("resnet152", depth=2).svg
    assert "features.layer3.35.body.conv3" in opened and "x35" not in opened


def test_densenet201_collapsed_is_small() -> None:
    assert len(ca.draw("densenet201").svg.encode()) < 300_000


@pytest.mark.parametrize("name", ["resnet18", "googlenet_paper", "densenet121"])
def test_every_data_path_is_a_module_of_the_built_model(name: str) -> None:
    """The explorer links the figure, the table and the findings through these paths."""
    modules = {module_name for module_name, _ in ca.create_model(name).named_modules()}
    for style in ("volumes", "block", "graph"):
        for depth in (None, WHOLE):
            svg = ca.draw(name, style=style, depth=depth).svg
            paths = set(re.findall(r'data-path="([^"]+)"', svg)) - {"input"}
            assert paths and paths <= modules, sorted(paths - modules)[:5]


def test_a_shortcut_is_named_for_what_it_is() -> None:
    """Option B's 1x1 conv is a projection; option A's zero padding has no weights (He et al. 2015 §3.3)."""
    assert ">projection<" in ca.draw("resnet50", style="block", at="layer2.0").svg
    option_a = ca.draw("resnet20", style="block", at="layer2.0").svg
    assert ">shortcut<" in option_a and ">projection<" not in option_a and "ZEROPAD32" in option_a
    assert ">identity<" in ca.draw("resnet20", style="block", at="layer2.1").svg


def test_a_long_net_wraps_onto_rows_and_a_short_one_stays_in_one() -> None:
    """ResNet-152 in one row was 3,000 units wide: its rows now stay under ROW_WIDTH, every block still drawn."""
    from convarch.draw.volumes import ROW_WIDTH

    long = ca.draw("resnet152")
    turns = re.findall(r'<polyline[^>]*class="edge wrap"', long.svg)
    assert len(turns) >= 1 and long.scene.width <= ROW_WIDTH + 60 and not collisions(long.svg)
    for path in ("features.conv1", "features.layer1.0", "features.layer3.1", "features.layer4.1", "classifier"):
        assert f'data-path="{path}"' in long.svg, path
    short = ca.draw("vgg16").svg
    assert "wrap" not in short
    for layers in (100, 400):  # the last row took all that was left: 2,201 and 3,165 units wide
        chain = ca.draw("INPUT(32x32x3) -> " + " -> ".join(f"CONV1-{8 + i % 50}" for i in range(layers)) + " -> FC10")
        assert chain.scene.width <= ROW_WIDTH + 60, layers
