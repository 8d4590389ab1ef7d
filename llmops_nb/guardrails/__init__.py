"""Guardrails on input and output: PII, secrets, blocked patterns, injection, toxicity, output
checks — offline (no model download), plain ``re`` and the standard library.

::

    from llmops_nb import guardrails as g
    g.scan("mail me at ada@example.com")            # [Finding(scanner='pii', type='email', …)]
    text, mapping = g.redact(t, g.scan(t))          # "mail me at <EMAIL_1>", {"<EMAIL_1>": …}
    g.restore(answer, mapping)
    r = g.guard_input(["…"], "strict"); r.blocked, r.texts, r.findings
    g.guard_output(answer, context=docs, json_schema=schema, max_chars=2000)

Scanner modules: :mod:`.pii`, :mod:`.secrets`, :mod:`.patterns`, :mod:`.injection`,
:mod:`.toxicity` (rules plus a learned classifier, :mod:`.textmodel`), :mod:`.output`; optional
model-backed scanners (OpenAI moderation, Llama Guard / Prompt Guard behind an OpenAI-compatible
endpoint) in :mod:`.remote`, a local ONNX classifier (Prompt Guard, toxic-bert … on disk) in
:mod:`.local_model`; policies and effects in :mod:`.policy`. Attributes load on
first use, so importing this package costs nothing until a scan runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "scan": "llmops_nb.guardrails.policy",
    "redact": "llmops_nb.guardrails.policy",
    "restore": "llmops_nb.guardrails.policy",
    "guard_input": "llmops_nb.guardrails.policy",
    "guard_output": "llmops_nb.guardrails.policy",
    "run_scanners": "llmops_nb.guardrails.policy",
    "get_policy": "llmops_nb.guardrails.policy",
    "Policy": "llmops_nb.guardrails.policy",
    "GuardResult": "llmops_nb.guardrails.policy",
    "PRESETS": "llmops_nb.guardrails.policy",
    "DEFAULT": "llmops_nb.guardrails.policy",
    "STRICT": "llmops_nb.guardrails.policy",
    "OFF": "llmops_nb.guardrails.policy",
    "BlockedPatterns": "llmops_nb.guardrails.patterns",
    "injection_score": "llmops_nb.guardrails.injection",
    "toxicity_score": "llmops_nb.guardrails.toxicity",
    "groundedness": "llmops_nb.guardrails.output",
    "set_hash_key": "llmops_nb.guardrails._common",
    "value_hash": "llmops_nb.guardrails._common",
}
__all__ = ["scan", "redact", "restore", "guard_input", "guard_output", "run_scanners", "get_policy", "Policy", "GuardResult",
           "PRESETS", "DEFAULT", "STRICT", "OFF", "BlockedPatterns", "injection_score", "toxicity_score",
           "groundedness", "set_hash_key", "value_hash"]

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.guardrails._common import set_hash_key, value_hash
    from llmops_nb.guardrails.injection import injection_score
    from llmops_nb.guardrails.output import groundedness
    from llmops_nb.guardrails.patterns import BlockedPatterns
    from llmops_nb.guardrails.policy import (
        DEFAULT,
        OFF,
        PRESETS,
        STRICT,
        GuardResult,
        Policy,
        get_policy,
        guard_input,
        guard_output,
        redact,
        restore,
        run_scanners,
        scan,
    )
    from llmops_nb.guardrails.toxicity import toxicity_score


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops_nb.guardrails' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
