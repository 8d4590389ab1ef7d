"""An interactive grid of a comparison table (what :func:`llmops_nb.compare` returns): filter by
model, prompt and input, sort by cost, latency or a score, see where the models' answers to the
same input differ, and open one answer in full.

Stock ipywidgets and an HTML table; the table itself is never changed.
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as W

from llmops_nb import render
from llmops_nb.comparison import COLUMNS

ALL = "(all)"
_SHOWN = ["model", "prompt", "input_fields", "status", "output", "cost_usd", "latency_ms"]
_DIFFERS_STYLE = "background:rgba(255,193,7,.22)"


def differing(df: Any) -> Any:
    """A boolean Series: True on every row of a (prompt, input, sample) whose answers are not all
    the same (a failure counts as its error message)."""
    keys = ["prompt", "input", "sample"]
    answers = df["output"].where(df["status"] == "OK", "⚠ " + df["error"].fillna("").astype(str))
    distinct = answers.groupby([df[k] for k in keys]).transform("nunique")
    return distinct > 1


def _fields(value: Any) -> dict[str, Any] | None:
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def input_fields(inputs: Any) -> tuple[list[str], dict[str, Any]]:
    """For a column of inputs (JSON objects as text): each one's label naming only the fields
    that vary between rows (``topic=caching``), and the fields every row shares. Inputs that
    are not JSON objects are their own label."""
    parsed = [_fields(v) for v in inputs]
    objects = [p for p in parsed if p is not None]
    keys = list(dict.fromkeys(k for p in objects for k in p))
    shared = {k: objects[0][k] for k in keys
              if all(k in p for p in objects) and len({json.dumps(p[k], sort_keys=True, default=str)
                                                       for p in objects}) == 1}
    if len(objects) < 2 or len(shared) == len(keys):
        shared = {}  # one row, or every row the same: show the whole input

    def label(raw: Any, p: dict[str, Any] | None) -> str:
        if p is None:
            return "" if raw is None else str(raw)
        return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v, default=str)}"
                         for k, v in p.items() if k not in shared) or "{}"

    return [label(raw, p) for raw, p in zip(inputs, parsed, strict=True)], shared


def _short(value: Any, width: int = 70) -> str:
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _cell(column: str, value: Any) -> str:
    if column == "cost_usd":
        return "n/a" if value is None or value != value else f"${value:.6f}"
    if column == "latency_ms":
        return "" if value is None or value != value else f"{value:.0f} ms"
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return html.escape(_short(value))


class Grid(W.VBox):
    """The grid widget; see :func:`grid`.

    State for code and tests: ``model_filter``, ``prompt_filter``, ``input_filter``,
    ``sort_by``, ``descending`` (controls), ``view`` (the shown rows: a DataFrame with a
    ``differs`` column), ``table`` (HTML), ``row_picker`` and ``detail`` (the opened answer); :meth:`show_answer`.
    """

    def __init__(self, df: Any) -> None:
        super().__init__()
        self.frame = df.copy()
        self.frame["differs"] = differing(self.frame) if len(self.frame) else []
        labels, self.shared_inputs = input_fields(list(self.frame["input"]))
        self.frame["input_fields"] = labels  # what varies between the inputs: never cut off by what does not
        self.scores = [c for c in df.columns if c not in COLUMNS]
        wide = {"description_width": "initial"}

        def options(column: str) -> list[str]:
            return [ALL, *dict.fromkeys(str(v) for v in self.frame[column])]

        self.model_filter = W.Dropdown(options=options("model"), description="model", style=wide)
        self.prompt_filter = W.Dropdown(options=options("prompt"), description="prompt", style=wide)
        shown_as = dict(zip(self.frame["input"].astype(str), self.frame["input_fields"], strict=True))
        self.input_filter = W.Dropdown(options=[(_short(shown_as.get(v, v), 50), v) for v in options("input")],
                                       description="input", style=wide)
        self.sort_by = W.Dropdown(options=["(table order)", "cost_usd", "latency_ms", *self.scores],
                                  description="sort by", style=wide)
        self.descending = W.Checkbox(value=False, description="descending", indent=False)
        self.only_differing = W.Checkbox(value=False, description="only differing answers", indent=False)
        self.table = W.HTML()
        self.row_picker = W.Select(description="open", rows=6, style=wide, layout=W.Layout(width="100%"))
        self.detail = W.HTML()
        for control in (self.model_filter, self.prompt_filter, self.input_filter, self.sort_by, self.descending,
                        self.only_differing):
            control.observe(lambda _: self.refresh(), names="value")
        self.row_picker.observe(lambda _: self.show_answer(), names="value")
        self.view = self.frame
        self.children = [
            W.HBox([self.model_filter, self.prompt_filter, self.input_filter]),
            W.HBox([self.sort_by, self.descending, self.only_differing]),
            self.table, self.row_picker, self.detail,
        ]
        self.add_class("llmops-grid")
        self.refresh()

    def refresh(self) -> None:
        """Apply the filters and the sort; redraw the table and the row picker."""
        view = self.frame
        for column, control in (("model", self.model_filter), ("prompt", self.prompt_filter),
                                ("input", self.input_filter)):
            if control.value != ALL:
                view = view[view[column].astype(str) == control.value]
        if self.only_differing.value:
            view = view[view["differs"]]
        if self.sort_by.value in view.columns:
            view = view.sort_values(self.sort_by.value, ascending=not self.descending.value, na_position="last",
                                    kind="stable")
        self.view = view
        self.table.value = render.sanitize_html(self._html(view))
        self.row_picker.options = [(f"#{i} {r['model']} · {_short(r['input_fields'], 40)}", i)
                                   for i, r in view.iterrows()]
        self.row_picker.value = None
        self.detail.value = ""

    def _html(self, view: Any) -> str:
        columns = [*_SHOWN, *self.scores]
        head = "".join(f"<th style='text-align:left;padding:2px 6px'>{html.escape(c)}</th>" for c in ["#", *columns])
        rows = []
        for index, row in view.iterrows():
            style = f" style='{_DIFFERS_STYLE}'" if row["differs"] else ""
            mark = " ≠" if row["differs"] else ""
            cells = "".join(f"<td style='padding:2px 6px;vertical-align:top'>{_cell(c, row[c])}</td>" for c in columns)
            rows.append(f"<tr class='llmops-row{' llmops-differs' if row['differs'] else ''}'{style}>"
                        f"<td style='padding:2px 6px'>{index}{mark}</td>{cells}</tr>")
        note = "<div style='opacity:.7;font-size:.85em'>≠ highlighted: the models answered this input differently</div>"
        if self.shared_inputs:
            same = ", ".join(f"{k}={v}" for k, v in self.shared_inputs.items())
            note = f"<div style='opacity:.7;font-size:.85em'>every input has {html.escape(same)}</div>{note}"
        return f"<table class='llmops-grid-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"

    def show_answer(self, index: int | None = None) -> str:
        """Show (and return as text) one row's full answer, its input and footer."""
        index = index if index is not None else self.row_picker.value
        if index is None:
            self.detail.value = ""
            return ""
        row = self.frame.loc[index]
        body = row["output"] if row["status"] == "OK" else f"⚠ {row['error']}"
        text = f"{row['model']} · {row['prompt']}\ninput: {row['input']}\n\n{body}\n\n{render.row_footer_text(row)}"
        self.detail.value = render.sanitize_html(
            f"<pre class='llmops-detail' style='white-space:pre-wrap'>{html.escape(text)}</pre>")
        return text


def grid(df: Any) -> Grid:
    """An interactive grid of a :func:`llmops_nb.compare` table (see :class:`Grid`)."""
    return Grid(df)
