"""Start-up work done in the background when the extension loads, so the first call is fast.

``%load_ext llmops_nb`` itself only registers the magics (a few ms) and starts one daemon
thread that does, in the order the first call needs them:

1. imports the pipeline (and through it guardrails, routing, cache, pricing);
2. imports the SDK and builds the client of the default model's provider (and the SDK's
   answer models: :mod:`llmops_nb.providers.sdk_models`).

Then, only once the kernel is idle (no cell running and no call in flight for ``IDLE_S``), what
the first call does not need:

3. opens the session's recorder, which replays records an earlier process left in the
   journal (a crash, a kernel restart): that replay is the session's first MLflow export
   (``import mlflow``, the store: seconds of CPU), which must not run under the first cell;
4. the SDK and client of every other provider whose API key or base URL is set (importing
   ``anthropic`` while the first cell calls ``openai:`` cost that cell ~0.5 s of CPU);
5. imports pandas (``history()``, ``compare()``).

No token encoding is built: the pre-call checks count tokens only when a prompt comes near a
limit (:class:`llmops_nb.tokens.PromptTokens`), so the first call does not need one.

Under the GIL a background step slows a call running at the same time by about its own CPU
time, so nothing the call does not need runs while a cell runs. Every step is best effort: a
failure only means the first call does that work itself (and reports the error, if it is one).
Each step is idempotent and thread-safe, so a call made while the warm-up runs waits for, or
does, the same work.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger(__name__)
_started = threading.Event()
IDLE_S = 1.0  # how long the kernel must have been idle before a step the first call does not need
_POLL_S = 0.1


class _Cells:
    """Whether a cell is running (IPython's ``pre_run_cell`` / ``post_run_cell`` events)."""

    def __init__(self) -> None:
        self.running = False
        self.ended_at = time.monotonic()

    def pre_run_cell(self, *args: Any) -> None:
        self.running = True

    def post_run_cell(self, *args: Any) -> None:
        self.running, self.ended_at = False, time.monotonic()


_cells = _Cells()


def start(ipython: Any = None) -> threading.Thread | None:
    """Start the warm-up thread once per process; returns it (None if already started, or
    switched off with ``LLMOPS_WARMUP=0``). With ``ipython`` (the shell loading the extension),
    steps the first call does not need wait until no cell is running; the cell loading the
    extension counts as running until it ends."""
    if _started.is_set() or os.environ.get("LLMOPS_WARMUP", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    _started.set()
    if ipython is not None and getattr(ipython, "events", None) is not None:
        _cells.running = True  # called from inside a cell (%load_ext) or before the first one
        ipython.events.register("pre_run_cell", _cells.pre_run_cell)
        ipython.events.register("post_run_cell", _cells.post_run_cell)
    thread = threading.Thread(target=run, name="llmops_nb-warmup", daemon=True)
    thread.start()
    return thread


def run() -> None:
    """The warm-up steps, in order (see the module docstring)."""
    for step in (_pipeline, _default_provider, _when_idle, _recorder, _providers, _pandas):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - best effort: the first call does it instead
            log.debug("llmops_nb: warm-up step %s failed: %s", step.__name__, exc)


def idle(quiet_s: float = IDLE_S) -> bool:
    """True when no cell has run and no call has been in flight or ended for ``quiet_s``."""
    from llmops_nb.session import session

    now = time.monotonic()
    return not _cells.running and now - _cells.ended_at >= quiet_s and session().spend()["in_flight"] == 0


def _when_idle() -> None:
    """Wait until :func:`idle` has held for ``IDLE_S`` (calls counted as activity too)."""
    from llmops_nb.session import session

    def activity() -> tuple[int, int]:
        s = session().spend()
        return s["calls"], s["in_flight"]

    last, since = activity(), time.monotonic()
    while True:
        now_activity = activity()
        if now_activity != last:
            last, since = now_activity, time.monotonic()
        if idle() and time.monotonic() - since >= IDLE_S:
            return
        time.sleep(_POLL_S)


def _pipeline() -> None:
    import llmops_nb.pipeline  # noqa: F401
    from llmops_nb import guardrails
    from llmops_nb.session import session

    s = session().settings
    if s.guardrails not in (None, "off"):
        # the built-in families only: a policy's model-backed scanner would be a request (paid, unrecorded)
        guardrails.guard_input(["warm up"], guardrails.get_policy(s.guardrails), scanners=False)


def _default_provider() -> None:
    from llmops_nb.providers.base import warm_default
    from llmops_nb.session import session

    s = session().settings
    warm_default(s.request_timeout_s, s.default_model)


def _providers() -> None:
    from llmops_nb.providers.base import warm_configured
    from llmops_nb.session import session

    s = session().settings
    warm_configured(s.request_timeout_s, s.default_model)


def _recorder() -> None:
    from llmops_nb.session import session

    session().recorder  # noqa: B018 - opening it claims orphaned journal records


def _pandas() -> None:
    import pandas  # noqa: F401
