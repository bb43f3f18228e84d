"""Static analysis (volumes, params, MACs, memory), sizing rules and measurements."""

from convarch.analysis.compare import SEED_LINEUP, Comparison, compare, seed_lineup
from convarch.analysis.modules import analyze_module
from convarch.analysis.profile import Profile, layer_profile
from convarch.analysis.report import CONVENTIONS, Report, Row, analyze_spec

__all__ = [
    "CONVENTIONS",
    "SEED_LINEUP",
    "Comparison",
    "Profile",
    "Report",
    "Row",
    "analyze_module",
    "analyze_spec",
    "compare",
    "layer_profile",
    "seed_lineup",
]
