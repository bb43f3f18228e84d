"""ca.draw: every zoo model draws, and the SVG is valid, deterministic and self-contained."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

import convarch as ca

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", ca.list_models())
def test_every_zoo_model_draws_valid_svg(name: str) -> None:
    svg = ca.draw(name).svg
    root = ET.fromstring(svg.encode())
    assert root.tag == f"{SVG}svg"
    assert "href" not in svg and "<script" not in svg and "@import" not in svg  # nothing external
    paths = {e.get("data-path") for e in root.iter() if e.get("data-path")}
    assert paths, "every box carries the module path it stands for"


def test_same_input_gives_the_same_bytes() -> None:
    assert ca.draw("googlenet_paper", depth=1).svg == ca.draw("googlenet_paper", depth=1).svg


def test_png_is_rendered_with_resvg(tmp_path) -> None:
    target = ca.draw("lenet5_paper").save(tmp_path / "lenet.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
