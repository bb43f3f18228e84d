"""Diagrams drawn from the spec: volumes, block and graph styles, as SVG or PNG.

Drawing is a reader of the spec, like the report: ``reading`` walks it (the same paths and volumes),
``units`` decides what is opened at a depth, each style lays out a ``scene`` of shapes, and ``svg`` writes it.
"""

from convarch.draw.diagram import STYLES, Diagram, draw

__all__ = ["STYLES", "Diagram", "draw"]
