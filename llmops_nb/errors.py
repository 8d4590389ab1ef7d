"""The typed errors of llmops_nb, one tree rooted at :class:`LLMOpsError`.

::

    LLMOpsError
    ├── ConfigError              bad settings, malformed model id
    │   ├── UnknownProvider      `provider:` part names no registered provider
    │   ├── MissingAPIKey        the provider's key variable is unset (nothing was sent)
    │   └── ContextWindowExceeded  the prompt or max_tokens exceed the window (nothing was sent)
    ├── TemplateError            a prompt could not be rendered
    │   ├── MissingVariables     `{{names}}` with no value (nothing was sent)
    │   ├── InvalidTemplate      empty, or a malformed `{{…}}` (unclosed, stray `}}`, not a name)
    │   └── InvalidVariable      a `{{name}}` that may not be read (module, callable, `_private`,
    │                            an object's internals) or whose value cannot become text
    ├── PromptError              the prompt registry refused
    │   ├── InvalidPromptName    not `[a-zA-Z0-9_.-]+`, or a reserved alias such as `latest`
    │   └── PromptNotFound       no such prompt, version or alias
    ├── CacheMiss                replay mode and the request is not cached (nothing was sent)
    ├── BudgetExceeded           the pre-call estimate exceeds a budget (nothing was sent)
    ├── CostConfirmationRequired a comparison's estimate needs a yes that nobody gave
    ├── ComparisonFailed         every cell of a comparison failed
    ├── OutputFormatError        the answer is not in the format asked for (e.g. JSON)
    ├── GuardrailBlocked         a guardrail policy blocked the prompt (nothing was sent) or the
    │                            answer (withheld); ``findings`` say what, never the values
    ├── TrackingError            records could not reach MLflow in time (they stay journaled)
    └── ProviderError            the provider was called and failed
        ├── RateLimited          429; ``retry_after`` in seconds when the server said
        ├── ProviderUnavailable  5xx, overloaded
        │   └── CircuitOpen      the model failed repeatedly; its breaker is cooling down
        ├── ProviderTimeout      no answer in time
        ├── ProviderConnectionError  could not connect
        ├── AuthenticationFailed 401 / 403
        ├── BadRequest           other 4xx: the request itself is wrong
        └── ProviderResponseError the answer could not be understood

Vendor (SDK) exceptions become these in one place, :mod:`llmops_nb.providers.vendor_errors`.
Every message says what to do next. In IPython an expected error renders as one line
(``_render_traceback_``) and the cell still fails.
"""

from __future__ import annotations

from typing import Any


class LLMOpsError(Exception):
    """Base of every error llmops_nb raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: expected errors stay one line,
        # and the cell still fails (so nbval and "Run all" stop here).
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class ConfigError(LLMOpsError):
    """Settings or a model id are not usable."""


class UnknownProvider(ConfigError):
    """The ``provider:`` part of a model id names no registered provider."""


class MissingAPIKey(ConfigError):
    """The provider needs an API key and its environment variable is not set."""

    def __init__(self, provider: str, variable: str) -> None:
        self.provider = provider
        self.variable = variable
        super().__init__(
            f"{provider} needs an API key: set the environment variable {variable} "
            f"(or put it in a .env file in the working directory). Nothing was sent."
        )


class ContextWindowExceeded(ConfigError):
    """The prompt, or ``max_tokens``, does not fit the model's context window; nothing was sent."""

    def __init__(self, model: str, needed: int, window: int, prompt_tokens: int, max_tokens: int | None) -> None:
        self.model, self.needed, self.window = model, needed, window
        self.prompt_tokens, self.max_tokens = prompt_tokens, max_tokens
        asked = f"{prompt_tokens:,} prompt" + (f" + {max_tokens:,} max_tokens" if max_tokens else "")
        super().__init__(f"{model} has a context window of {window:,} tokens; this call needs {needed:,} "
                         f"({asked}). Shorten the prompt, lower max_tokens, or pick a model with a larger "
                         "window. Nothing was sent.")


class TemplateError(LLMOpsError):
    """A prompt template could not be rendered."""


class MissingVariables(TemplateError):
    """Template variables that have no value; the request was not sent."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        listed = ", ".join("{{" + n + "}}" for n in self.names)
        super().__init__(
            f"no value for {listed}: define {'them' if len(self.names) > 1 else 'it'} in the "
            f"notebook (or pass variables=...) and run again. Nothing was sent."
        )


class InvalidTemplate(TemplateError):
    """The template is empty or a ``{{…}}`` in it is malformed; nothing was sent."""


class InvalidVariable(TemplateError):
    """A ``{{name}}`` that templates may not read, or whose value cannot become text."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__(f"{{{{{name}}}}}: {reason}. Nothing was sent.")


class PromptError(LLMOpsError):
    """The prompt registry refused an operation."""


class InvalidPromptName(PromptError):
    """A prompt or alias name that the registry does not accept."""


class PromptNotFound(PromptError):
    """No such prompt, version or alias."""


class CacheMiss(LLMOpsError):
    """Replay mode (``LLMOPS_CACHE=replay``) and the request is not in the cache."""


class BudgetExceeded(LLMOpsError):
    """The pre-call estimate exceeds a budget; nothing was sent."""

    def __init__(self, scope: str, estimate: float, remaining: float) -> None:
        self.scope, self.estimate, self.remaining = scope, estimate, remaining
        super().__init__(f"{scope} budget: this call may cost ${estimate:.6f} but ${max(remaining, 0):.6f} "
                         "remains. Raise the budget, lower max_tokens, or pick a cheaper model. Nothing was sent.")


class CostConfirmationRequired(LLMOpsError):
    """The estimated cost is above ``confirm_above_usd`` and it was not confirmed (no one
    could be asked, or the answer was no). Nothing was sent."""

    def __init__(self, estimate: Any, threshold: float, declined: bool = False) -> None:
        self.estimate, self.threshold = estimate, threshold
        why = "declined" if declined else "no one can confirm here (no interactive input)"
        super().__init__(f"{estimate.describe()} is above confirm_above_usd=${threshold:g}; {why}. "
                         "Pass confirm=True, raise confirm_above_usd, or compare fewer cells. Nothing was sent.")


class ComparisonFailed(LLMOpsError):
    """Every cell of a comparison failed (each error is in the table)."""


class OutputFormatError(LLMOpsError):
    """The answer is not in the format that was asked for."""


class GuardrailBlocked(LLMOpsError):
    """A guardrail policy blocked the call: on input nothing was sent; on output the answer was
    withheld. ``findings`` (``llmops_nb.types.Finding``) carry types, scores, spans and value
    hashes only; neither they nor the message ever contain the matched values. ``cost_usd``: what
    a withheld answer cost (it was answered: the spend counts it), when known."""

    def __init__(self, findings: list[Any], direction: str = "input", cost_usd: float | None = None) -> None:
        self.findings = list(findings)
        self.direction = direction
        self.cost_usd = cost_usd
        blocking = [f for f in self.findings if getattr(f, "action", "") == "block"] or self.findings
        counts: dict[str, int] = {}
        for f in blocking:
            counts[f"{f.type} ({f.scanner})"] = counts.get(f"{f.type} ({f.scanner})", 0) + 1
        what = ", ".join(f"{name} ×{n}" for name, n in counts.items()) or "a finding"
        if direction == "output":
            paid = f" (it was answered, and its ${cost_usd:.6f} is counted in the spend)" if cost_usd else ""
            head, tail = f"the answer was withheld by the output guardrails: {what}{paid}", "ask again"
        else:
            head, tail = f"the prompt was blocked by the input guardrails: {what}. Nothing was sent", "remove them"
        super().__init__(
            f"{head}. To go on, {tail}, or relax the policy (guard='default' or 'off', or a Policy "
            f"with action 'warn'/'redact' for these types)."
        )


class TrackingError(LLMOpsError):
    """Records did not reach the MLflow store in time; they stay in the local journal."""


class ProviderError(LLMOpsError):
    """The provider was called and the call failed.

    ``status`` is the HTTP status when there was one, ``retryable`` says whether the same
    request may succeed later, ``retry_after`` is the server's advice in seconds (or None).
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(ProviderError):
    """HTTP 429: too many requests or tokens; wait ``retry_after`` seconds."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """HTTP 5xx or overloaded: the provider failed; retrying later may work."""

    retryable = True


class CircuitOpen(ProviderUnavailable):
    """The model's circuit breaker is open: it failed repeatedly and is cooling down."""


class ProviderTimeout(ProviderError):
    """No answer within the timeout."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The provider could not be reached (DNS, refused connection, reset)."""

    retryable = True


class AuthenticationFailed(ProviderError):
    """HTTP 401/403: the key is wrong or lacks permission."""


class BadRequest(ProviderError):
    """Another 4xx: the request itself is wrong (unknown model, bad parameter …)."""


class ProviderResponseError(ProviderError):
    """The provider answered something the SDK could not understand."""
