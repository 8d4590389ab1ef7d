"""How answers look in a notebook: the one sanitizing renderer, the footer, output formats,
and in-place streaming.

Model output, prompts and anything read back from a store are untrusted. Every HTML fragment
that shows them (cell outputs, reprs, widget values) is built here: markdown is rendered with
raw HTML off (it shows as text), then the whole fragment goes through ``nh3`` with an allow-list
of tags, attributes, classes and CSS properties; only ``http``, ``https`` and ``mailto`` links
survive, and images become links (a picture would be a request leaving the page). Outputs are
``text/html`` made here plus ``text/plain``, never raw ``text/markdown`` that a frontend would
trust.

Pure presentation: nothing here calls a provider or decides anything about a call.
"""

from __future__ import annotations

import html
import json
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING, Any

import nh3

from llmops_nb.errors import OutputFormatError

if TYPE_CHECKING:  # pragma: no cover - Completion renders itself through this module
    from llmops_nb.types import Completion

FORMATS = ("markdown", "text", "json", "code")
_FENCE = re.compile(r"```([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)

# --- the one sanitizing renderer -----------------------------------------------------------------

_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul",
})
_ATTRIBUTES = {"*": {"class", "style", "title"}, "a": {"href"}, "ol": {"start"}, "td": {"align"}, "th": {"align"}}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# layout and colour only: no property that can load anything (background, list-style, cursor …)
_STYLE_PROPERTIES = frozenset({
    "align-items", "border", "border-radius", "color", "display", "flex", "flex-direction", "font-size",
    "font-style", "font-weight", "gap", "line-height", "margin", "margin-bottom", "margin-top", "min-width",
    "opacity", "padding", "text-align", "vertical-align", "white-space",
})
_UNSAFE_STYLE = re.compile(r"url\s*\(|expression\s*\(|image-set|@import|\\|&|/\*", re.IGNORECASE)
_CLASSES = re.compile(r"llmops-[\w-]+|language-[\w+#.-]+|mathjax_ignore|tex2jax_ignore")
IGNORE_MATH = "mathjax_ignore tex2jax_ignore"  # MathJax 3 and 2 skip elements with these classes


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return " ".join(c for c in value.split() if _CLASSES.fullmatch(c)) or None
    if attribute == "style" and _UNSAFE_STYLE.search(value):
        return None
    return value


def sanitize_html(fragment: str) -> str:
    """``fragment`` with everything outside the allow-list removed: no scripts, event
    handlers, frames, forms, images, styles that load things, or links other than
    http(s)/mailto (entity-encoded and mixed-case schemes included: nh3 parses as a browser does)."""
    return nh3.clean(fragment, tags=set(_TAGS), attributes={k: set(v) for k, v in _ATTRIBUTES.items()},
                     attribute_filter=_attribute_filter, url_schemes=set(_URL_SCHEMES),
                     filter_style_properties=set(_STYLE_PROPERTIES), clean_content_tags={"script", "style"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def image_as_link(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        alt = html.escape(renderer.renderInlineAsText(token.children or [], options, env) or "image")
        src = html.escape(str(token.attrGet("src") or ""), quote=True)
        return f'<a href="{src}">[image: {alt}]</a>' if src else f"[image: {alt}]"

    md.add_render_rule("image", image_as_link)
    return md


# Maths is taken out before markdown (whose escapes and emphasis would mangle it) and put back as
# text for MathJax; a dollar that opens no maths is shown as a dollar, never typeset ("$5 and $10").
_MATH_OR_CODE = re.compile(
    r"(?P<fence>^[ ]{0,3}(?P<ticks>`{3,}|~{3,})[^\n]*(?:\n[\s\S]*?(?:\n[ ]{0,3}(?P=ticks)[ \t]*(?=\n|$)|$)|$))"
    r"|(?P<span>(?P<run>`+)[\s\S]*?(?P=run))"
    r"|(?P<math>\$\$[\s\S]+?\$\$|\\\[[\s\S]+?\\\]|\\\([\s\S]+?\\\)"
    r"|\\begin\{(?P<env>[A-Za-z]+\*?)\}[\s\S]+?\\end\{(?P=env)\}|\$[^\s$](?:[^$\n]*?[^\s$\\])?\$)"
    r"|(?P<dollar>\$)", re.MULTILINE)
# TeX that makes links, sets CSS or loads code: such maths is shown as text, never typeset
_ACTIVE_TEX = re.compile(r"\\(?:href|url|style|class|cssId|require|unicode|html\w*|data|mmlToken|texttip|toggle|"
                         r"mathtip|action|fbox|bbox|begingroup|def|let|newcommand|renewcommand|char)(?![A-Za-z])")
_HOLE = re.compile("\ue000(\\d+)\ue001")
_TAG = re.compile(r"(<[^>]*>)")
_DOLLAR = f'<span class="{IGNORE_MATH}">&#36;</span>'


def markdown_html(text: str) -> str:
    """Markdown (an answer, a prompt) as sanitized HTML: raw HTML in it is shown as text, links
    keep only safe schemes, images become links, maths is left for MathJax as written."""
    holes: list[str] = []

    def hole(match: re.Match[str]) -> str:
        if match.group("fence") is not None or match.group("span") is not None:
            return match.group(0)
        holes.append(match.group("math") or "$")
        return f"\ue000{len(holes) - 1}\ue001"

    rendered = _markdown().render(_MATH_OR_CODE.sub(hole, text.replace("\ue000", "").replace("\ue001", "")))

    def refill(segment: str) -> str:
        in_tag = segment.startswith("<")

        def put(match: re.Match[str]) -> str:
            source = holes[int(match.group(1))]
            if in_tag:
                return html.escape(source, quote=True)
            if source == "$":
                return _DOLLAR
            if _ACTIVE_TEX.search(source):
                return f'<span class="{IGNORE_MATH}">{html.escape(source)}</span>'
            return html.escape(source)

        return _HOLE.sub(put, segment)

    shown = "".join(refill(s) for s in _TAG.split(rendered))
    if _ACTIVE_TEX.search(text):  # wherever it is, no maths of this text is typeset
        shown = f'<div class="{IGNORE_MATH}">{shown}</div>'
    return sanitize_html(shown)


def text_html(text: str, *, css_class: str = "llmops-text", color: str | None = None) -> str:
    """Plain text (an error, a streamed answer in a widget) as a sanitized, wrapped block that
    MathJax leaves alone."""
    style = "white-space:pre-wrap;margin:4px 0;line-height:1.45" + (f";color:{color}" if color else "")
    return sanitize_html(f'<div class="{css_class} {IGNORE_MATH}" style="{style}">{html.escape(text)}</div>')


def code_html(code: str, language: str = "") -> str:
    """A code block (``-f json``/``-f code``, a diff) as sanitized HTML."""
    cls = f' class="language-{html.escape(language, quote=True)}"' if language else ""
    return sanitize_html(f"<pre><code{cls}>{html.escape(code)}</code></pre>")


def small_print_html(text: str) -> str:
    """A footer line: escaped, in an element MathJax skips, dollars as entities ("$0 … $0.000045"
    must not be typeset as maths)."""
    return sanitize_html(f'<sub class="{IGNORE_MATH}">{html.escape(text).replace("$", "&#36;")}</sub>')


def footer_text(c: Completion) -> str:
    """One line of facts: model · tokens in→out · cost · latency · TTFT · cached · findings ·
    what the policy's guardrail models cost."""
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
    if c.guard_calls:  # the policy's guardrail models: spent besides the call's own cost (local ones: free)
        calls = f"{c.guard_calls} call{'s' if c.guard_calls > 1 else ''}"
        parts.append(f"guard models ({calls})" if c.guard_cost_usd == 0
                     else f"guard models {cost_text(c.guard_cost_usd)} ({calls})")
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
        "guard_calls": c.guard_calls,
        "guard_cost_usd": c.guard_cost_usd,
    }


def footer_html(c: Completion) -> str:
    """The footer and the call's notes as sanitized small print."""
    return small_print_html(footer_text(c)) + "".join(f"<br>{small_print_html(f'⚠ {n}')}" for n in c.notes)


def answer_html(c: Completion) -> str:
    """The answer as rendered markdown with its footer (what a cell and ``Completion`` show)."""
    return sanitize_html(f'<div class="llmops-answer">{markdown_html(c.text)}<p>{footer_html(c)}</p></div>')


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
    """The MIME bundle showing ``c`` in ``fmt`` with its footer: sanitized ``text/html`` and
    ``text/plain``."""
    foot = footer_text(c)
    notes = "".join(f"\n⚠ {n}" for n in c.notes)
    if fmt == "markdown":
        return {"text/html": answer_html(c), "text/plain": f"{c.text}\n\n{foot}{notes}"}
    if fmt == "json":
        pretty = json.dumps(parse_json_answer(c.text), indent=2, ensure_ascii=False)
        return {"text/html": _block(code_html(pretty, "json"), footer_html(c)),
                "text/plain": f"{pretty}\n\n{foot}{notes}"}
    if fmt == "code":
        code = code_of(c.text)
        return {"text/html": _block(code_html(code, code_language(c.text)),
                                    footer_html(c) + small_print_html(" · inserted as a new cell")),
                "text/plain": f"{code}\n\n{foot}{notes}"}
    return {"text/plain": f"{c.text}\n\n{foot}{notes}"}


def _block(body: str, foot: str) -> str:
    return sanitize_html(f'<div class="llmops-answer">{body}<p>{foot}</p></div>')


def streaming_bundle(text: str, fmt: str) -> dict[str, Any]:
    """What is shown while the answer streams in (the ▌ marks where it grows)."""
    if fmt == "markdown":
        return {"text/html": sanitize_html(f'<div class="llmops-answer llmops-streaming">{markdown_html(text + " ▌")}</div>'),
                "text/plain": text}
    return {"text/plain": text + " ▌"}


def _updates_in_place() -> bool:
    """True when the frontend redraws a display in place (a notebook, a capturing test); False
    in terminal IPython, whose plain publisher prints every update anew."""
    from IPython import get_ipython
    from IPython.core.displaypub import DisplayPublisher

    shell = get_ipython()
    return shell is not None and type(shell.display_pub) is not DisplayPublisher


class StreamView:
    """One output that the answer streams into, updated in place, then finished with a footer.

    Nothing is displayed until the first piece arrives, so a call refused before sending
    leaves no empty output behind. Where displays cannot be updated in place (terminal
    IPython), a markdown or text answer is written to stdout as it arrives and then only its
    footer follows; other formats are printed once, at the end.
    """

    def __init__(self, fmt: str, min_interval_s: float = 0.05, live: bool = True) -> None:
        self.fmt = fmt
        self.live = live  # False: show only the final answer (e.g. for nbval, which ignores updates)
        self.text = ""
        self._min_interval = min_interval_s
        self._last = 0.0
        self._handle: Any = None
        self._in_place = _updates_in_place()
        self._echoed = False  # terminal: the answer itself has been written to stdout

    def _show(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, metadata=metadata, display_id=True)
        else:
            self._handle.update(data, raw=True, metadata=metadata)

    def write(self, piece: str) -> None:
        """Append a piece of the answer (throttled redraw)."""
        self.text += piece
        if not self.live:
            return
        if not self._in_place:
            if self.fmt in ("markdown", "text"):
                sys.stdout.write(piece)
                sys.stdout.flush()
                self._echoed = True
            return
        now = time.monotonic()
        if now - self._last >= self._min_interval:
            self._show(streaming_bundle(self.text, self.fmt))
            self._last = time.monotonic()
            # a long answer takes longer to render: redraw less often rather than slow the stream
            self._min_interval = max(self._min_interval, 4 * (self._last - now))

    def finish(self, c: Completion) -> None:
        """Show the final rendering with its footer and metadata (raw text if it cannot be
        shown in the format asked for, then OutputFormatError)."""
        meta = {"llmops_nb": footer_metadata(c)}
        if self._echoed:  # terminal: the text is on screen already (and may differ: redacted)
            rest = c.text[len(self.text):] if c.text.startswith(self.text) else f"\n{c.text}"
            notes = "".join(f"\n⚠ {n}" for n in c.notes)
            sys.stdout.write(f"{rest}\n\n{footer_text(c)}{notes}\n")
            sys.stdout.flush()
            return
        try:
            data = bundle(c, self.fmt)
        except OutputFormatError:
            self._show(bundle(c, "text"), meta)
            raise
        self._show(data, meta)


def diff_bundle(diff: str) -> dict[str, Any]:
    """A unified diff as a code block."""
    shown = diff or "(no difference)"
    return {"text/html": code_html(shown, "diff"), "text/plain": shown}


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
    lines = [f"<b>{html.escape(v.ref)}</b>{html.escape(head.splitlines()[0][len(v.ref):])}",
             *map(html.escape, head.splitlines()[1:])]
    shown = sanitize_html(f'<div class="llmops-registration {IGNORE_MATH}">{"<br>".join(lines)}</div>')
    return {"text/html": shown + (code_html(diff, "diff") if diff else ""),
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
        body = markdown_html(_body(row)) if ok else text_html(_body(row), color="#c62828")
        columns.append(
            f'<div style="{_COLUMN}" class="llmops-column">'
            f'<div style="font-weight:600;margin-bottom:6px">{html.escape(title)}</div>'
            f'<div class="llmops-column-body" style="flex:1">{body}</div>'
            f'<div style="margin-top:8px;opacity:.7;font-size:.85em">{small_print_html(row_footer_text(row))}</div></div>')
        blocks.append(f"── {title} ──\n{_body(row)}\n{row_footer_text(row)}")
    shown = f'<div class="llmops-side-by-side" style="display:flex;gap:12px;align-items:stretch">{"".join(columns)}</div>'
    return {"text/html": sanitize_html(shown), "text/plain": "\n\n".join(blocks)}


def side_by_side_metadata(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Each column's facts as output metadata (``metadata["llmops_nb"]["columns"]``)."""
    keys = ("model", "prompt", "answered_by", "status", "input_tokens", "output_tokens", "cost_usd",
            "latency_ms", "ttft_ms", "cached", "error", "trace_id")

    def plain(value: Any) -> Any:
        return None if isinstance(value, float) and value != value else value  # NaN is not JSON

    return {"llmops_nb": {"columns": [{k: plain(r.get(k)) for k in keys} for r in rows]}}
