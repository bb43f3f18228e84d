"""The architecture explorer: one self-contained HTML page per network, and a live page for patterns.

    import convarch as ca
    ca.write_report("resnet50", "resnet50.html")   # or: convarch report resnet50 --out resnet50.html
    # convarch serve                                  the live explorer on http://127.0.0.1:8000/

Both pages read the public API (``analyze``, ``check``, ``model_info``, ``draw``) and add no analysis.
"""

from convarch.explorer.report import report_html, write_report

__all__ = ["report_html", "write_report"]
