"""The recorded form of what a call's user sees: what is written (MLflow artifacts, exported
tables) holds what the provider saw, never a value the guardrails redacted.

A call's :class:`~llmops_nb.types.Completion` shows the user restored values; its
``recorded_text`` is the answer as MLflow and the cache hold it, and its ``placeholders``
(in memory only) map each placeholder to the user's value. A table that is logged — a
comparison's ``table.csv``, an experiment's ``scores.csv`` — is built from rows passed through
:func:`recorded_row`: the answer as recorded, and every other text (the inputs, the prompt's
label, error messages) with the call's values put back as its placeholders, then scanned with
the call's policy so that a value of a call that failed before it was guarded (blocked,
missing variables) is redacted too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

INHERIT: Any = object()  # the configured guardrail policy


def policy_of(guard: Any = INHERIT) -> Any:
    """The guardrail :class:`~llmops_nb.guardrails.Policy` a call with ``guard=`` ran under
    (``INHERIT``: the configured one); None when guardrails were off."""
    if guard is INHERIT:
        from llmops_nb.session import session

        guard = session().settings.guardrails
    if guard is None or guard == "off":
        return None
    from llmops_nb import guardrails

    return guardrails.get_policy(guard)


def redact_text(text: str, placeholders: Mapping[str, str], policy: Any) -> str:
    """``text`` as the provider would have seen it: the call's values replaced by their
    placeholders (longest first), then whatever ``policy`` redacts or blocks."""
    for placeholder, value in sorted(placeholders.items(), key=lambda kv: -len(kv[1])):
        if value:
            text = text.replace(value, placeholder)
    if policy is None:
        return text
    from llmops_nb import guardrails

    # the built-in families: a model-backed scanner's redactions are among the call's placeholders already,
    # and asking it again for each recorded value would be a request (paid) per value
    found = [f for f in guardrails.scan(text, "input", policy, scanners=False) if f.action in ("redact", "block")]
    return guardrails.redact(text, found, placeholders)[0] if found else text


def redact_value(value: Any, placeholders: Mapping[str, str], policy: Any) -> Any:
    """A template variable's value in recorded form: text redacted, containers walked; other
    values are kept unless their text (what the template inserted) holds a redacted value."""
    if isinstance(value, str):
        return redact_text(value, placeholders, policy)
    if isinstance(value, Mapping):
        return {str(k): redact_value(v, placeholders, policy) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, placeholders, policy) for v in value]
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    redacted = redact_text(text, placeholders, policy)
    return value if redacted == text and isinstance(value, (int, float)) else redacted


def inputs_json(inputs: Mapping[str, Any], placeholders: Mapping[str, str], policy: Any) -> str:
    """The inputs of a call as the JSON a table records (values in recorded form)."""
    return json.dumps(redact_value(dict(inputs), placeholders, policy), sort_keys=True, ensure_ascii=False,
                      default=str)


def recorded_row(row: Mapping[str, Any], completion: Any, policy: Any, *, texts: Sequence[str],
                 output: str = "output") -> dict[str, Any]:
    """``row`` (what the user's table shows) in recorded form: ``output`` is the answer as
    recorded; each column in ``texts`` is redacted like the call's prompt."""
    placeholders = getattr(completion, "placeholders", None) or {}
    out = dict(row)
    if completion is not None and out.get(output) is not None:
        recorded = getattr(completion, "recorded_text", None)
        out[output] = recorded if recorded is not None else completion.text
    for column in texts:
        if isinstance(out.get(column), str):
            out[column] = redact_text(out[column], placeholders, policy)
    return out
