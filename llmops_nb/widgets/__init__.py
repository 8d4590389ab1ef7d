"""Notebook widgets (ipywidgets 8): a prompt playground, a comparison grid and a dashboard.

Widgets are thin: every action calls the same public API as the magics (``complete``,
``prompts.register`` / ``get`` / ``versions`` / ``diff``, ``tracking.log_feedback``,
``history``) and only renders what comes back::

    from llmops_nb.widgets import playground, grid, dashboard_widget
    pg = playground(template="Explain {{topic}} briefly.", models=["sim:a", "sim:b"])
    pg                       # edit, pick models, Run; pg.run() from code waits for the answers
    grid(llm.compare(...))   # filter, sort, highlight differing answers, open one
    dashboard_widget()       # charts of history(), with a Refresh button
"""

from __future__ import annotations

from llmops_nb.widgets.dashboard import Dashboard, dashboard_widget
from llmops_nb.widgets.grid import Grid, grid
from llmops_nb.widgets.playground import Panel, Playground, model_choices, playground

__all__ = ["Dashboard", "Grid", "Panel", "Playground", "dashboard_widget", "grid", "model_choices", "playground"]
