"""A dashboard widget: charts of :func:`llmops_nb.history`, redrawn by a Refresh button (and,
if asked, every few seconds).

The charts are ``llmops_nb.monitor.dashboard`` when that module provides it, else a cost /
latency chart and calls per model built here from the same history table. They are shown as PNG
(vl-convert, offline) when it is installed, since Altair's default renderer loads Vega from a CDN.
"""

from __future__ import annotations

import inspect
import threading
from importlib import import_module
from typing import Any

import ipywidgets as W

from llmops_nb import render
from llmops_nb.tracking import history


def fallback_chart(df: Any) -> Any:
    """Calls per model (stacked by status) beside cost vs latency, from a history table."""
    import altair as alt

    from llmops_nb import viz

    counts = df.groupby(["model", "status"], as_index=False).size().rename(columns={"size": "calls"})
    calls = alt.Chart(counts, title="Calls per model").mark_bar().encode(
        y=alt.Y("model:N", title=None), x=alt.X("calls:Q", title="calls"),
        color=alt.Color("status:N", legend=alt.Legend(orient="bottom")), tooltip=["model", "status", "calls"])
    if not ((df["status"] == "OK") & ~df["cached"].astype(bool)).any():
        return calls
    return alt.hconcat(calls.properties(width=260), viz.cost_latency_chart(df, width=320, height=220))


def charts_for(df: Any) -> Any:
    """The dashboard chart of a history table: ``monitor.dashboard`` if available, else
    :func:`fallback_chart`."""
    try:
        monitor_dashboard = import_module("llmops_nb.monitor").dashboard
    except (ImportError, AttributeError):
        return fallback_chart(df)
    takes_table = bool(inspect.signature(monitor_dashboard).parameters)
    return monitor_dashboard(df) if takes_table else monitor_dashboard()


def _png(chart: Any) -> dict[str, Any] | None:
    """The chart as a PNG bundle (vl-convert, offline), or None without vl-convert.

    Altair's default renderer loads Vega from a CDN, which an offline machine cannot reach."""
    import base64
    import io

    try:
        buf = io.BytesIO()
        chart.save(buf, format="png", scale_factor=1.5)
    except (ImportError, ValueError):
        return None
    return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": "<dashboard chart>"}


def _display_data(obj: Any) -> dict[str, Any]:
    """``obj`` as a display_data output message: a chart as PNG when possible, else its rich
    formats inside IPython."""
    from IPython import get_ipython

    png = _png(obj) if hasattr(obj, "to_dict") and hasattr(obj, "save") else None
    if png is not None:
        return {"output_type": "display_data", "data": png, "metadata": {}}
    shell = get_ipython()
    data, metadata = shell.display_formatter.format(obj) if shell is not None else ({"text/plain": repr(obj)}, {})
    return {"output_type": "display_data", "data": data, "metadata": metadata}


class Dashboard(W.VBox):
    """The dashboard widget; see :func:`dashboard_widget`.

    State for code and tests: ``frame`` (the last history table), ``chart`` (the last chart),
    ``status``, ``output`` (where the chart is shown) and :meth:`refresh`.
    """

    def __init__(self, refresh_s: float | None = None, limit: int | None = 500) -> None:
        super().__init__()
        self.limit = limit
        self.frame: Any = None
        self.chart: Any = None
        self.refresh_button = W.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.status = W.HTML()
        self.output = W.Output()
        self._stop = threading.Event()
        self.children = [W.HBox([self.refresh_button, self.status]), self.output]
        self.add_class("llmops-dashboard")
        self.refresh()
        if refresh_s:
            threading.Thread(target=self._every, args=(float(refresh_s),), daemon=True,
                             name="llmops_nb-dashboard").start()

    def refresh(self) -> Any:
        """Read the history again and redraw; returns the chart (None when there are no calls)."""
        try:
            self.frame = history(self.limit)
            self.chart = charts_for(self.frame) if len(self.frame) else None
        except Exception as exc:  # the store could not be read: say so in the widget
            self.status.value = render.text_html(f"⚠ {type(exc).__name__}: {exc}", color="#c62828")
            return None
        self.status.value = render.sanitize_html(f"<i>{len(self.frame)} calls</i>")
        shown = self.chart if self.chart is not None else W.HTML("<i>no calls yet</i>")
        self.output.outputs = (_display_data(shown),)  # through the widget's state, not the cell's output
        return self.chart

    def _every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.refresh()

    def stop(self) -> None:
        """Stop refreshing on a timer."""
        self._stop.set()


def dashboard_widget(refresh_s: float | None = None) -> Dashboard:
    """Charts of :func:`llmops_nb.history` with a Refresh button; ``refresh_s`` also redraws
    them every so many seconds (call ``.stop()`` to end that)."""
    return Dashboard(refresh_s)
