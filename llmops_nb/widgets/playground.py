"""The prompt playground: edit a template, fill its ``{{variables}}``, run it on several models
side by side, save it as a prompt version, diff versions, and rate answers.

Every action is a call to the public API (``complete``, ``prompts.register`` / ``get`` /
``versions`` / ``diff``, ``tracking.log_feedback``); this module only lays out and renders.
"""

from __future__ import annotations

import contextvars
import html
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as W

from llmops_nb import prompts, render, tracking
from llmops_nb.config import settings
from llmops_nb.errors import LLMOpsError
from llmops_nb.pipeline import complete
from llmops_nb.prompts import PromptVersion
from llmops_nb.providers.base import providers_info
from llmops_nb.session import spend_summary
from llmops_nb.types import Completion

_log = logging.getLogger(__name__)
SIM_MODELS = ("sim:default", "sim:echo", "sim:json")
EXAMPLE_MODELS = {"openai": "gpt-5.4-mini", "anthropic": "claude-haiku-4-5", "ollama": "llama3.2"}
DEFAULT_TEMPLATE = "Explain {{topic}} in three bullet points."
_PANEL = W.Layout(flex="1 1 0", min_width="240px", border="1px solid rgba(128,128,128,.35)",
                  padding="4px 10px", margin="0 6px 0 0")


def model_choices() -> list[tuple[str, str]]:
    """(label, model id) of what is configured: the default and ``sim:`` models, ``route:NAME``
    for each configured route, and an example model of each provider (labelled when its key is
    not set, so picking it shows MissingAPIKey in its panel)."""
    s = settings()
    ids = [s.default_model, *SIM_MODELS, *(f"route:{name}" for name in s.routes)]
    choices = [(m, m) for m in dict.fromkeys(ids)]
    for row in providers_info():
        name = row["provider"]
        if name not in EXAMPLE_MODELS:
            continue
        model = f"{name}:{EXAMPLE_MODELS[name]}"
        unset = row["needs key"] and not row["key set"]
        choices.append((f"{model} ({row['key variable']} not set)" if unset else model, model))
    return choices


def _escaped_block(text: str, color: str | None = None) -> str:
    return render.text_html(text, color=color)


def _html(fragment: str) -> str:
    """Every widget value goes through the one sanitizing renderer."""
    return render.sanitize_html(fragment)


class Panel(W.VBox):
    """One model's answer: streamed text, footer, an inline error, and 👍/👎 with a comment.

    State for code and tests: ``model``, ``text``, ``footer``, ``error``, ``completion``,
    ``trace_id``, ``state`` (``waiting`` → ``streaming`` → ``done`` | ``error``) and ``done``
    (an Event set when the call has finished either way).
    """

    def __init__(self, model: str, min_interval_s: float = 0.05) -> None:
        super().__init__(layout=_PANEL)
        self.model, self.text, self.footer = model, "", ""
        self.error: str | None = None
        self.completion: Completion | None = None
        self.trace_id: str | None = None
        self.state = "waiting"
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._interval, self._last = min_interval_s, 0.0
        self.heading = W.HTML(_html(f"<b>{html.escape(model)}</b>"))
        self.body = W.HTML(_escaped_block("…", "gray"))
        self.body.add_class("llmops-panel-body")
        self.footer_view = W.HTML()
        self.footer_view.add_class("llmops-panel-footer")
        # Font Awesome icons rather than emoji: they render without an emoji font
        self.thumbs_up = W.Button(icon="thumbs-up", tooltip="👍 good answer", disabled=True,
                                  layout=W.Layout(width="44px"))
        self.thumbs_down = W.Button(icon="thumbs-down", tooltip="👎 bad answer", disabled=True,
                                    layout=W.Layout(width="44px"))
        self.thumbs_up.add_class("llmops-thumbs-up")
        self.comment = W.Text(placeholder="comment (optional)", layout=W.Layout(flex="1 1 auto", width="auto"))
        self.rating_status = W.HTML()
        self.rating_status.add_class("llmops-rating-status")
        self.thumbs_up.on_click(lambda _: self._rate_in_background(True))
        self.thumbs_down.on_click(lambda _: self._rate_in_background(False))
        self.children = [self.heading, self.body, self.footer_view,
                         W.HBox([self.thumbs_up, self.thumbs_down, self.comment]), self.rating_status]
        self.add_class("llmops-panel")

    def write(self, piece: str) -> None:
        """Append a streamed piece (redrawn at most every ``min_interval_s``)."""
        with self._lock:
            self.text += piece
            self.state = "streaming"
            now = time.monotonic()
            if now - self._last >= self._interval:
                self._last = now
                self.body.value = render.markdown_html(self.text + " ▌")

    def finish(self, c: Completion) -> None:
        """Show the final answer (after output guardrails) and its footer."""
        with self._lock:
            self.completion, self.trace_id, self.text = c, c.trace_id, c.text
            self.footer = render.footer_text(c)
            notes = "".join(f"<br>⚠ {html.escape(n)}" for n in c.notes)
            self.body.value = render.markdown_html(c.text)
            self.footer_view.value = _html(f'<span class="{render.IGNORE_MATH}" style="opacity:.75;font-size:.85em">'
                                           f'{html.escape(self.footer)}{notes}</span>')
            self.thumbs_up.disabled = self.thumbs_down.disabled = False
            self.state = "done"
        self.done.set()

    def fail(self, exc: BaseException) -> None:
        """Show the error's message in the panel (never a traceback)."""
        with self._lock:
            self.error = f"{type(exc).__name__}: {exc}"
            self.trace_id = getattr(exc, "trace_id", None)
            self.body.value = _escaped_block(f"⚠ {self.error}", "#c62828")
            self.footer_view.value = _html(f'<span style="opacity:.75;font-size:.85em">{html.escape(self.model)} · failed</span>')
            self.state = "error"
        self.done.set()

    def _rate_in_background(self, value: bool) -> threading.Thread:
        # the first rating may wait for the call's record to reach MLflow: keep the UI free
        self.rating_status.value = "<i>saving…</i>"
        thread = threading.Thread(target=self.rate, args=(value,), daemon=True, name="llmops_nb-rating")
        thread.start()
        return thread

    def rate(self, value: bool | float, comment: str | None = None) -> Any:
        """Store 👍 (True) / 👎 (False) or a score as MLflow feedback on this answer's trace;
        ``comment`` (default: the comment field) is its rationale. Returns the assessment."""
        if self.completion is None or not self.trace_id:
            self.rating_status.value = "<i>nothing to rate yet</i>"
            return None
        note = comment if comment is not None else (self.comment.value.strip() or None)
        try:
            assessment = tracking.log_feedback(self.trace_id, value, comment=note)
        except Exception as exc:  # the store refused: say so where the click happened
            self.rating_status.value = _escaped_block(f"⚠ {type(exc).__name__}: {exc}", "#c62828")
            return None
        shown = ("good" if value else "bad") if isinstance(value, bool) else str(value)
        self.rating_status.value = _html(f"<i>rated {shown}: saved as MLflow feedback on {html.escape(self.trace_id)}</i>")
        return assessment


def _diff_html(diff: str) -> str:
    colors = {"+": "#1b5e20", "-": "#b71c1c", "@": "#6a1b9a"}
    lines = []
    for line in diff.splitlines() or ["(no difference)"]:
        color = None if line.startswith(("+++", "---")) else colors.get(line[:1])
        style = f' style="color:{color}"' if color else ""
        lines.append(f"<span{style}>{html.escape(line)}</span>")
    return _html('<pre class="llmops-diff" style="margin:4px 0">' + "\n".join(lines) + "</pre>")


class Playground(W.VBox):
    """The playground widget; see :func:`playground`.

    State for code and tests: ``template`` (Textarea), ``variable_fields`` (name → Text),
    ``models`` (SelectMultiple), ``temperature``, ``max_tokens``, ``guard``, ``panels``
    (one :class:`Panel` per model of the last run), ``version`` (the loaded or saved
    :class:`PromptVersion`), ``version_picker`` and ``diff_view``; methods :meth:`run`,
    :meth:`save`, :meth:`show_diff`, :meth:`load_version`.
    """

    def __init__(self, prompt: str | PromptVersion | None = None, *, template: str | None = None,
                 models: Sequence[str] | None = None, variables: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if isinstance(prompt, str) and template is None and not prompts.is_ref(prompt):
            prompt, template = None, prompt  # "Describe {{thing}}" is a template, not a name
        self.version: PromptVersion | None = prompts.get(prompt) if prompt is not None else None
        text = template if template is not None else (self.version.template if self.version else DEFAULT_TEMPLATE)
        self._initial = {k: str(v) for k, v in (variables or {}).items()}
        self.panels: list[Panel] = []
        self._threads: list[threading.Thread] = []
        self._build_controls(text, list(models or [settings().default_model]))
        self._build_prompt_tools()
        self._sync_variables()
        self.template.observe(lambda _: self._sync_variables(), names="value")
        self.children = [
            W.HTML("<b>Prompt playground</b> <span style='opacity:.7'>— every run is traced in MLflow</span>"),
            self.template, self.variable_box,
            W.HBox([self.models, W.VBox([self.extra_model, self.add_model_button])]),
            W.HBox([self.temperature, self.max_tokens, self.guard]),
            W.HBox([self.run_button, self.status]),
            self.panel_box,
            W.HTML("<b>Prompt versions</b>"),
            W.HBox([self.prompt_name, self.save_message, self.save_alias, self.save_button]), self.save_status,
            W.HBox([self.version_picker, self.load_button]), self.diff_view,
        ]
        self.add_class("llmops-playground")
        self._refresh_versions()

    # --- layout ---------------------------------------------------------------------------------

    def _build_controls(self, text: str, selected: list[str]) -> None:
        wide = {"description_width": "initial"}
        self.template = W.Textarea(value=text, placeholder="Prompt template with {{variables}}",
                                   layout=W.Layout(width="100%", height="90px"))
        self.variable_box = W.VBox()
        self.variable_fields: dict[str, W.Text] = {}
        choices = model_choices()
        choices += [(m, m) for m in selected if m not in {v for _, v in choices}]
        self.models = W.SelectMultiple(options=choices, value=tuple(selected), rows=min(7, len(choices)),
                                       description="models", style=wide, layout=W.Layout(width="420px"))
        self.extra_model = W.Text(placeholder="another model id, e.g. sim:fast or vllm:qwen")
        self.add_model_button = W.Button(description="Add model")
        self.add_model_button.on_click(lambda _: self.add_model(self.extra_model.value))
        self.temperature = W.FloatSlider(value=0.7, min=0.0, max=2.0, step=0.1, description="temperature", style=wide)
        self.max_tokens = W.BoundedIntText(value=512, min=1, max=1_000_000, description="max tokens", style=wide,
                                           layout=W.Layout(width="180px"))
        self.guard = W.Dropdown(options=["configured", "default", "strict", "off"], value="configured",
                                description="guardrails", style=wide, layout=W.Layout(width="220px"))
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.run_button.on_click(lambda _: self.run(wait=False))
        self.status = W.HTML()
        self.panel_box = W.HBox(layout=W.Layout(width="100%", align_items="stretch", margin="6px 0"))

    def _build_prompt_tools(self) -> None:
        self.prompt_name = W.Text(value=self.version.name if self.version else "", placeholder="prompt name",
                                  description="name", layout=W.Layout(width="220px"))
        self.save_message = W.Text(placeholder="what changed", description="message", layout=W.Layout(width="280px"))
        self.save_alias = W.Text(placeholder="e.g. production", description="alias", layout=W.Layout(width="200px"))
        self.save_button = W.Button(description="Save as new version", icon="save", layout=W.Layout(width="auto"))
        self.save_button.on_click(lambda _: self.save())
        self.save_status = W.HTML()
        self.version_picker = W.Dropdown(options=[], description="diff with", layout=W.Layout(width="420px"))
        self.version_picker.observe(lambda _: self.show_diff(), names="value")
        self.load_button = W.Button(description="Load into editor")
        self.load_button.on_click(lambda _: self.load_version())
        self.diff_view = W.HTML()

    def _sync_variables(self) -> None:
        """One Text field per ``{{variable}}`` of the template; values are kept while editing,
        also of a variable deleted and typed again."""
        names = prompts.variables(self.template.value)
        for name, gone in self.variable_fields.items():  # a variable edited away keeps its value
            if name not in names:
                self._initial[name] = gone.value
        fields = {}
        for name in names:
            fields[name] = self.variable_fields.get(name) or W.Text(
                value=self._initial.get(name, ""), description=name, style={"description_width": "initial"},
                layout=W.Layout(width="100%"))
        self.variable_fields = fields
        self.variable_box.children = list(fields.values())

    def add_model(self, model: str) -> None:
        """Add a model id (or ``route:NAME``) to the choices and select it."""
        model = model.strip()
        if not model:
            return
        selected = self.models.value  # new options reset the selection
        if model not in {v for _, v in self.models.options}:
            self.models.options = [*self.models.options, (model, model)]
        self.models.value = tuple(dict.fromkeys([*selected, model]))
        self.extra_model.value = ""

    # --- run ------------------------------------------------------------------------------------

    def variable_values(self) -> dict[str, Any]:
        """The filled fields (empty ones are left out, so they count as missing); dotted names
        (``{{user.name}}``) become nested mappings."""
        values: dict[str, Any] = {}
        for path, field in self.variable_fields.items():
            if field.value == "":
                continue
            *heads, last = path.split(".")
            node = values
            for head in heads:
                node = node.setdefault(head, {})
            node[last] = field.value
        return values

    def _source(self) -> str | PromptVersion:
        """The loaded version while the editor still holds its template (so calls record
        ``name@version``), else the edited text."""
        if self.version is not None and self.template.value == self.version.template:
            return self.version
        return self.template.value

    def run(self, wait: bool = True, timeout: float | None = 300.0) -> list[Panel]:
        """Send the template to every selected model at once, each answer streaming into its
        panel; ``wait`` blocks until all have finished (the Run button does not wait)."""
        models = list(self.models.value)
        if not models:
            self.status.value = "<i>pick at least one model</i>"
            return []
        kwargs: dict[str, Any] = {"variables": self.variable_values(), "temperature": self.temperature.value,
                                  "max_tokens": self.max_tokens.value, "stream": True}
        if self.guard.value != "configured":
            kwargs["guard"] = self.guard.value
        source = self._source()
        self.panels = [Panel(m) for m in models]
        self.panel_box.children = list(self.panels)
        self.status.value = _html(f"<i>running {len(models)} model{'s' if len(models) > 1 else ''}…</i>")
        label = source.ref if isinstance(source, PromptVersion) else "edited template"
        with tracking.group(f"playground: {label}"):  # one MLflow run per click
            self._threads = [threading.Thread(target=contextvars.copy_context().run, args=(self._call, p, source, kwargs),
                                              name=f"llmops_nb-playground-{i}", daemon=True)
                             for i, p in enumerate(self.panels)]
        for t in self._threads:
            t.start()
        if wait:
            self.wait(timeout)
        else:
            threading.Thread(target=self.wait, args=(timeout,), daemon=True).start()
        return self.panels

    @staticmethod
    def _call(panel: Panel, source: str | PromptVersion, kwargs: dict[str, Any]) -> None:
        try:
            c = complete(panel.model, source, on_text=panel.write, **kwargs)
        except LLMOpsError as exc:
            panel.fail(exc)
        except Exception as exc:  # an unexpected failure still ends in its panel, not in the log
            _log.debug("playground call to %s failed", panel.model, exc_info=True)
            panel.fail(exc)
        else:
            panel.finish(c)

    def wait(self, timeout: float | None = 300.0) -> None:
        """Wait until every panel of the last run has finished; then show the session's spend."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        ok = sum(p.state == "done" for p in self.panels)
        failed = sum(p.state == "error" for p in self.panels)
        self.status.value = _html(f"<span class='llmops-run-status {render.IGNORE_MATH}'>{ok} answered, {failed} failed"
                                  f" · session: {html.escape(spend_summary())}</span>")

    # --- versions -------------------------------------------------------------------------------

    def save(self, message: str | None = None, alias: str | None = None) -> prompts.PromptRegistration | None:
        """Register the editor's template under the name field (a new version only if it
        changed), with ``message`` and ``alias`` (default: the fields)."""
        message = message if message is not None else (self.save_message.value.strip() or None)
        alias = alias if alias is not None else self.save_alias.value.strip()
        try:
            result = prompts.register(self.prompt_name.value.strip(), self.template.value, message=message,
                                      aliases=[alias] if alias else [])
        except LLMOpsError as exc:
            self.save_status.value = _escaped_block(f"⚠ {type(exc).__name__}: {exc}", "#c62828")
            return None
        self.version = result.version
        self.save_status.value = _html(f"<pre style='margin:4px 0'>"
                                       f"{html.escape(render.registration_bundle(result)['text/plain'])}</pre>")
        self._refresh_versions()
        return result

    def _refresh_versions(self) -> None:
        name = self.prompt_name.value.strip()
        try:
            found = prompts.versions(name) if name else []
        except LLMOpsError:
            found = []
        current = self.version.version if self.version is not None and self.version.name == name else None
        options = [(f"v{v.version}" + (f" [{', '.join(v.aliases)}]" if v.aliases else "")
                    + (f" — {v.message}" if v.message else "") + (" (current)" if v.version == current else ""),
                    v.version) for v in found]
        self.version_picker.options = options
        self.version_picker.value = None
        self.diff_view.value = ""

    def show_diff(self, version: int | None = None) -> str:
        """Show (and return) the diff from an earlier ``version`` (default: the picked one) to
        the current version."""
        picked = version if version is not None else self.version_picker.value
        if picked is None or self.version is None:
            self.diff_view.value = ""
            return ""
        try:
            diff = prompts.diff(self.version.name, picked, self.version.version)
        except LLMOpsError as exc:
            self.diff_view.value = _escaped_block(f"⚠ {type(exc).__name__}: {exc}", "#c62828")
            return ""
        self.diff_view.value = _diff_html(diff)
        return diff

    def load_version(self, version: int | None = None) -> PromptVersion | None:
        """Put a version's template (default: the picked one) into the editor."""
        picked = version if version is not None else self.version_picker.value
        name = self.prompt_name.value.strip()
        if picked is None or not name:
            return None
        try:
            self.version = prompts.get(name, picked)
        except LLMOpsError as exc:
            self.save_status.value = _escaped_block(f"⚠ {type(exc).__name__}: {exc}", "#c62828")
            return None
        self.template.value = self.version.template
        self._refresh_versions()
        return self.version


def playground(prompt: str | PromptVersion | None = None, *, template: str | None = None,
               models: Sequence[str] | None = None, variables: Mapping[str, Any] | None = None) -> Playground:
    """A prompt playground widget.

    ``prompt`` is a registered prompt (``"summarize"``, ``"summarize@production"`` or a
    :class:`PromptVersion`) to start from; ``template`` starts from text instead. ``models``
    are preselected (default: the configured default model); ``variables`` prefill the fields
    of the template's ``{{variables}}``. Display it, or drive it from code: ``pg.run()`` waits
    for the answers, ``pg.panels[i].text`` / ``.footer`` hold them.
    """
    return Playground(prompt, template=template, models=models, variables=variables)
