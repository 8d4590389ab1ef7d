"""llmops_nb — LLM calls, prompts, comparisons and MLflow tracking inside Jupyter.

``%load_ext llmops_nb`` registers the ``%%llm`` magics. The same engine is a Python API::

    import llmops_nb as llm
    c = llm.complete("sim:default", "Say hello")
    c.text, c.usage, c.cost_usd, c.latency_s
    llm.history()

Attributes are imported on first use, so ``import llmops_nb`` stays fast (no mlflow, pandas or
SDK imports until they are needed).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "complete": "llmops_nb.pipeline",
    "acomplete": "llmops_nb.pipeline",
    "configure": "llmops_nb.session",
    "settings": "llmops_nb.config",
    "history": "llmops_nb.tracking",
    "flush": "llmops_nb.tracking",
    "findings": "llmops_nb.tracking",
    "compare": "llmops_nb.comparison",
    "optimize": "llmops_nb.optimization",
    "compress": "llmops_nb.compression",
    "spend": "llmops_nb.session",
    "Experiment": "llmops_nb.experiments",
    "dashboard": "llmops_nb.monitor",
    "playground": "llmops_nb.widgets",
    "grid": "llmops_nb.widgets",
    "dashboard_widget": "llmops_nb.widgets",
    "log_feedback": "llmops_nb.tracking",
    "group": "llmops_nb.groups",
    "log_pipeline": "llmops_nb.serving",
    "set_price": "llmops_nb.pricing",
    "price_of": "llmops_nb.pricing",
    "count_tokens": "llmops_nb.tokens",
    "count_message_tokens": "llmops_nb.tokens",
    "register_provider": "llmops_nb.providers.base",
    "register_endpoint": "llmops_nb.providers.base",
    "Completion": "llmops_nb.types",
    "Usage": "llmops_nb.types",
    "Message": "llmops_nb.types",
    "Finding": "llmops_nb.types",
    "LLMOpsError": "llmops_nb.errors",
    "ConfigError": "llmops_nb.errors",
    "MissingAPIKey": "llmops_nb.errors",
    "MissingVariables": "llmops_nb.errors",
    "CacheMiss": "llmops_nb.errors",
    "ProviderError": "llmops_nb.errors",
    "GuardrailBlocked": "llmops_nb.errors",
    "BudgetExceeded": "llmops_nb.errors",
    "PromptNotFound": "llmops_nb.errors",
}

__all__ = [*_EXPORTS, "load_ipython_extension", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.config import settings
    from llmops_nb.errors import (
        CacheMiss,
        ConfigError,
        LLMOpsError,
        MissingAPIKey,
        MissingVariables,
        ProviderError,
    )
    from llmops_nb.groups import group
    from llmops_nb.pipeline import acomplete, complete
    from llmops_nb.pricing import price_of, set_price
    from llmops_nb.providers.base import register_endpoint, register_provider
    from llmops_nb.serving import log_pipeline
    from llmops_nb.session import configure, spend
    from llmops_nb.tokens import count_message_tokens, count_tokens
    from llmops_nb.tracking import flush, history
    from llmops_nb.types import Completion, Finding, Message, Usage


_SUBMODULES = {"guardrails", "prompts", "routing", "tracking", "providers", "viz", "comparison", "experiments",
               "evaluation", "monitor", "widgets", "serving"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = import_module(f"llmops_nb.{name}")
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops_nb' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext llmops_nb``: register the magics, say where this kernel's store is (for the
    LLM calls sidebar), and start the session's start-up work in the background
    (:mod:`llmops_nb.warmup`: the default model's SDK and client now; the recorder's replay of an
    earlier process's journal, other SDKs and pandas once the kernel is idle) so the first call
    does not pay for it."""
    from llmops_nb import magic_names, warmup
    from llmops_nb.kernel_report import register

    magic_names.register(ipython)  # the names; llmops_nb.magics is imported when one first runs
    register()  # a kernel tells the Jupyter server where its store is (for the LLM calls sidebar)
    warmup.start(ipython)
