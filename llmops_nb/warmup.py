"""Start-up work done in the background when the extension loads, so the first call is fast.

``%load_ext llmops_nb`` itself only registers the magics (a few ms) and starts one daemon
thread that, in the order the first call needs them:

1. imports the pipeline (and through it guardrails, routing, cache, pricing);
2. imports the SDK and builds the client of the default model's provider and of every
   provider whose API key or base URL is set;
3. builds the default token encoding (used for the pre-call estimate);
4. opens the session's recorder, which replays records an earlier process left in the
   journal (a crash, a kernel restart) — replay starts with the session, not its first call;
5. imports pandas (``history()``, ``compare()``).

Every step is best effort: a failure only means the first call does that work itself (and
reports the error, if it is one). Each step is idempotent and thread-safe, so a call made
while the warm-up runs simply waits for, or does, the same work.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)
_started = threading.Event()


def start() -> threading.Thread | None:
    """Start the warm-up thread once per process; returns it (None if already started, or
    switched off with ``LLMOPS_WARMUP=0``)."""
    if _started.is_set() or os.environ.get("LLMOPS_WARMUP", "1").strip().lower() in ("0", "false", "off", "no"):
        return None
    _started.set()
    thread = threading.Thread(target=run, name="llmops_nb-warmup", daemon=True)
    thread.start()
    return thread


def run() -> None:
    """The warm-up steps, in order (see the module docstring)."""
    for step in (_pipeline, _providers, _encoding, _recorder, _pandas):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - best effort: the first call does it instead
            log.debug("llmops_nb: warm-up step %s failed: %s", step.__name__, exc)


def _pipeline() -> None:
    import llmops_nb.pipeline  # noqa: F401
    from llmops_nb import guardrails
    from llmops_nb.session import session

    s = session().settings
    if s.guardrails not in (None, "off"):
        guardrails.guard_input(["warm up"], guardrails.get_policy(s.guardrails))


def _providers() -> None:
    from llmops_nb.providers.base import warm_configured
    from llmops_nb.session import session

    s = session().settings
    warm_configured(s.request_timeout_s, s.default_model)


def _encoding() -> None:
    from llmops_nb.tokens import DEFAULT_ENCODING, encoding

    encoding(DEFAULT_ENCODING)


def _recorder() -> None:
    from llmops_nb.session import session

    session().recorder  # noqa: B018 - opening it claims orphaned journal records


def _pandas() -> None:
    import pandas  # noqa: F401
