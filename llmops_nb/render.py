"""How answers look in a notebook: the footer, output formats, and in-place streaming.

Pure presentation: nothing here calls a provider or decides anything about a call.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from llmops_nb.errors import OutputFormatError
from llmops_nb.types import Completion

FORMATS = ("markdown", "text", "json", "code")
_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def footer_text(c: Completion) -> str:
    """One line of facts: model · tokens in→out · cost · latency · TTFT · cached."""
    parts = [c.model, f"{c.usage.input_tokens}→{c.usage.output_tokens} tok"]
    if c.cached:
        saved = f", saved ${c.saved_usd:.6f}" if c.saved_usd else ""
        parts.append(f"$0 (cached{saved})")
    else:
        parts.append(cost_text(c.cost_usd, c.cost_simulated))
    parts.append(f"{c.latency_s * 1000:.0f} ms")
    if c.ttft_s is not None:
        parts.append(f"TTFT {c.ttft_s * 1000:.0f} ms")
    if c.cached and c.original_latency_s is not None:
        parts.append(f"orig. {c.original_latency_s * 1000:.0f} ms")
    if c.cut_detail:
        parts.append(f"⚠ cut {c.cut_detail}")  # which limit: max_tokens, the context window, unknown
    if c.prompt:
        parts.append(c.prompt)
    if c.route:
        parts.append(f"route:{c.route}" + (f" ({len(c.attempts)} attempts)" if len(c.attempts) > 1 else ""))
    if c.findings:
        parts.append("🛡 " + findings_summary(c.findings))
    return " · ".join(parts)


def cost_text(cost_usd: float | None, simulated: bool = False) -> str:
    """A call's cost as shown: ``$0.000035``, ``$0.000035 simulated`` (the simulator's reference
    price) or ``cost unknown`` (no price: never shown as $0)."""
    if cost_usd is None:
        return "cost unknown"
    return f"${cost_usd:.6f}" + (" simulated" if simulated else "")


def findings_summary(findings: list[Any]) -> str:
    """``email×2 redact, prompt_injection×1 warn`` (input and output findings together)."""
    counts: dict[str, int] = {}
    for f in findings:
        key = f"{f.type}×{{n}} {f.action}" + (" (answer)" if getattr(f, "direction", "input") == "output" else "")
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(k.format(n=n) for k, n in counts.items())


def footer_metadata(c: Completion) -> dict[str, Any]:
    """The footer's facts as output metadata (``metadata["llmops_nb"]`` of the display)."""
    return {
        "model": c.model,
        "provider": c.provider,
        "usage": asdict(c.usage),
        "cost_usd": c.cost_usd,
        "cost_simulated": c.cost_simulated,
        "saved_usd": c.saved_usd,
        "latency_s": c.latency_s,
        "ttft_s": c.ttft_s,
        "cached": c.cached,
        "trace_id": c.trace_id,
        "prompt": c.prompt,
        "notes": c.notes,
        "route": c.route,
        "finish_reason": c.finish_reason,
        "cut_by": c.cut_by,
        "cut_detail": c.cut_detail,
        "findings": [asdict(f) for f in c.findings],  # hashes, never the values
    }


def markdown_with_footer(c: Completion) -> str:
    notes = "".join(f"<br>⚠ {html.escape(n)}" for n in c.notes)
    return f"{c.text}\n\n{_sub(html.escape(footer_text(c)) + notes)}"


def _sub(text: str) -> str:
    """Small print that Jupyter's markdown must not read as LaTeX: "$0 … $0.000045" would be
    typeset as maths. The dollars become entities (no math in the source) and the element is
    one MathJax skips (no math in the page)."""
    return f'<sub class="mathjax_ignore tex2jax_ignore">{text.replace("$", "&#36;")}</sub>'


def parse_json_answer(text: str) -> Any:
    """The answer as JSON; a ```json fence is unwrapped. OutputFormatError if it is not JSON."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(2) if fenced else text
    try:
        return json.loads(candidate)
    except json.JSONDecodeError as exc:
        snippet = candidate.strip().replace("\n", " ")[:60]
        raise OutputFormatError(
            f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            f"{snippet!r}… Ask for JSON only in the prompt, or use -f text."
        ) from None


def code_of(text: str) -> str:
    """The first fenced code block of the answer, or the whole answer."""
    fenced = _FENCE.search(text)
    return (fenced.group(2) if fenced else text).strip("\n")


def code_language(text: str) -> str:
    """The language named on the answer's first code fence ('' if none)."""
    fenced = _FENCE.search(text)
    return fenced.group(1) if fenced else ""


def bundle(c: Completion, fmt: str) -> dict[str, Any]:
    """The MIME bundle showing ``c`` in ``fmt`` with its footer."""
    foot = footer_text(c)
    notes = "".join(f"\n⚠ {n}" for n in c.notes)
    if fmt == "markdown":
        return {"text/markdown": markdown_with_footer(c), "text/plain": f"{c.text}\n\n{foot}{notes}"}
    if fmt == "json":
        pretty = json.dumps(parse_json_answer(c.text), indent=2, ensure_ascii=False)
        return {"text/markdown": f"```json\n{pretty}\n```\n\n{_sub(html.escape(foot))}",
                "text/plain": f"{pretty}\n\n{foot}{notes}"}
    if fmt == "code":
        code = code_of(c.text)
        return {"text/markdown": f"```{code_language(c.text)}\n{code}\n```\n\n"
                                 f"{_sub(html.escape(foot) + ' · inserted as a new cell')}",
                "text/plain": f"{code}\n\n{foot}{notes}"}
    return {"text/plain": f"{c.text}\n\n{foot}{notes}"}


class StreamView:
    """One output that the answer streams into, updated in place, then finished with a footer.

    Nothing is displayed until the first piece arrives, so a call refused before sending
    leaves no empty output behind.
    """

    def __init__(self, fmt: str, min_interval_s: float = 0.05, live: bool = True) -> None:
        self.fmt = fmt
        self.live = live  # False: show only the final answer (e.g. for nbval, which ignores updates)
        self.text = ""
        self._min_interval = min_interval_s
        self._last = 0.0
        self._handle: Any = None

    def _show(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)

    def write(self, piece: str) -> None:
        """Append a piece of the answer (throttled redraw)."""
        self.text += piece
        now = time.monotonic()
        if self.live and now - self._last >= self._min_interval:
            self._last = now
            if self.fmt == "markdown":
                self._show({"text/markdown": self.text + " ▌", "text/plain": self.text})
            else:
                self._show({"text/plain": self.text + " ▌"})

    def finish(self, c: Completion) -> None:
        """Show the final rendering with its footer and metadata (raw text if it cannot be
        shown in the format asked for, then OutputFormatError)."""
        meta = {"llmops_nb": footer_metadata(c)}
        try:
            data = bundle(c, self.fmt)
        except OutputFormatError:
            self._show(bundle(c, "text"), meta)
            raise
        self._show(data, meta)


def diff_bundle(diff: str) -> dict[str, Any]:
    """A unified diff as a highlighted block."""
    shown = diff or "(no difference)"
    return {"text/markdown": f"```diff\n{shown}\n```", "text/plain": shown}


def registration_bundle(result: Any) -> dict[str, Any]:
    """What ``%%prompt`` shows: name@version, new or unchanged, variables, diff."""
    v = result.version
    state = "new version" if result.created else "unchanged — no new version"
    aliases = f" · aliases: {', '.join(v.aliases)}" if v.aliases else ""
    names = ", ".join("{{" + n + "}}" for n in v.variables) or "none"
    defaults = " · ".join(x for x in [f"model {v.model}" if v.model else ""] +
                          [f"{k} {val}" for k, val in sorted(v.params.items())] if x)
    head = f"{v.ref} ({state}){aliases}\nvariables: {names}" + (f"\ndefaults: {defaults}" if defaults else "")
    diff = result.diff() if result.created else ""
    body = f"\n\n```diff\n{diff}\n```" if diff else ""
    md_head = head.replace("\n", "  \n")
    return {"text/markdown": f"**{html.escape(v.ref)}** {md_head[len(v.ref):]}{body}",
            "text/plain": head + (f"\n{diff}" if diff else "")}


def versions_frame(versions: list[Any]) -> Any:
    """Prompt versions as a table: name, version, created, message, aliases, variables, model."""
    import pandas as pd

    rows = [{
        "name": v.name, "version": v.version,
        "created": pd.Timestamp(v.created_at_ms, unit="ms", tz="UTC") if v.created_at_ms else None,
        "message": v.message or "", "aliases": ", ".join(v.aliases), "variables": ", ".join(v.variables),
        "model": v.model or "",
    } for v in versions]
    return pd.DataFrame(rows, columns=["name", "version", "created", "message", "aliases", "variables", "model"])


# --- side by side (several models or prompt versions in one cell) -------------------------------

def row_footer_text(row: Mapping[str, Any]) -> str:
    """:func:`footer_text` for one row of a comparison table (``llmops_nb.comparison``)."""
    if row.get("status") != "OK":
        return f"{row.get('model')} · failed"
    parts = [str(row.get("answered_by") or row.get("model")),
             f"{int(row.get('input_tokens') or 0)}→{int(row.get('output_tokens') or 0)} tok"]
    cost = row.get("cost_usd")
    if row.get("cached"):
        parts.append("$0 (cached)")
    else:
        parts.append(cost_text(None if cost is None or cost != cost else cost))  # NaN: unpriced
    parts.append(f"{float(row.get('latency_ms') or 0):.0f} ms")
    ttft = row.get("ttft_ms")
    if ttft is not None and ttft == ttft:
        parts.append(f"TTFT {ttft:.0f} ms")
    return " · ".join(parts)


def _column_titles(rows: list[Mapping[str, Any]]) -> list[str]:
    """The model and/or the prompt, whichever differ between the columns."""
    keys = [k for k in ("model", "prompt") if len({str(r.get(k)) for r in rows}) > 1] or ["model"]
    return [" · ".join(str(r.get(k)) for k in keys) for r in rows]


def _body(row: Mapping[str, Any]) -> str:
    if row.get("status") == "OK":
        return str(row.get("output") or "")
    return f"⚠ {row.get('error')}"


_COLUMN = ("flex:1 1 0;min-width:220px;border:1px solid rgba(128,128,128,.35);border-radius:6px;"
           "padding:8px 10px;display:flex;flex-direction:column")


def side_by_side_bundle(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Answers as columns (HTML flex; stacked blocks as text), each with its title and footer.

    ``rows`` are rows of a comparison table; a failed row shows its error in its column."""
    titles = _column_titles(rows)
    columns, blocks = [], []
    for title, row in zip(titles, rows, strict=True):
        ok = row.get("status") == "OK"
        body_style = "white-space:pre-wrap;flex:1" + ("" if ok else ";color:#c62828")
        columns.append(
            f'<div style="{_COLUMN}"><div style="font-weight:600;margin-bottom:6px">{html.escape(title)}</div>'
            f'<div style="{body_style}">{html.escape(_body(row))}</div>'
            f'<div style="margin-top:8px;opacity:.7;font-size:.85em">{html.escape(row_footer_text(row))}</div></div>')
        blocks.append(f"── {title} ──\n{_body(row)}\n{row_footer_text(row)}")
    return {"text/html": f'<div style="display:flex;gap:12px;align-items:stretch">{"".join(columns)}</div>',
            "text/plain": "\n\n".join(blocks)}


def side_by_side_metadata(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Each column's facts as output metadata (``metadata["llmops_nb"]["columns"]``)."""
    keys = ("model", "prompt", "answered_by", "status", "input_tokens", "output_tokens", "cost_usd",
            "latency_ms", "ttft_ms", "cached", "error", "trace_id")

    def plain(value: Any) -> Any:
        return None if isinstance(value, float) and value != value else value  # NaN is not JSON

    return {"llmops_nb": {"columns": [{k: plain(r.get(k)) for k in keys} for r in rows]}}
