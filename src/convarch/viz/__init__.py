"""Charts: results people would rather see than read (matplotlib, drawn without a display)."""

from convarch.viz.charts import complexity_chart, profile_chart, sweep_chart

__all__ = ["complexity_chart", "profile_chart", "sweep_chart"]
