"""Static analysis (volumes, params, MACs, memory), sizing rules and measurements."""

from convarch.analysis.report import CONVENTIONS, Report, Row, analyze_spec

__all__ = ["CONVENTIONS", "Report", "Row", "analyze_spec"]
