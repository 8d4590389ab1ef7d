"""What a call cost: genai-prices' bundled price data, cache-aware, plus user overrides.

``price_of(usage, model)`` never guesses: a model with no known price costs ``None`` and a
note says why and how to fix it (``set_price``), never a silent 0. ``sim:<name>`` is priced as
the real model ``<name>`` when genai-prices knows it (``sim:gpt-5.4-mini`` costs what
gpt-5.4-mini would); any other ``sim:`` model at the simulator's reference price
(``llmops_nb.providers.sim.REFERENCE_PRICE``), marked ``simulated``; ``set_price`` overrides both.
"""

from __future__ import annotations

import fnmatch
import re
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmops_nb import price_table
from llmops_nb.errors import ConfigError
from llmops_nb.types import Usage

_GENAI_PROVIDER = {"openai": "openai", "anthropic": "anthropic"}


@dataclass(frozen=True)
class PriceOverride:
    """A user's price for a model (or a glob of models), in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None  # None: same as input
    cache_write_per_mtok: float | None = None  # None: same as input

    def cost(self, usage: Usage) -> float:
        read = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        write = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        plain_input = max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens)
        total = (
            plain_input * self.input_per_mtok
            + usage.cache_read_tokens * read
            + usage.cache_write_tokens * write
            + usage.output_tokens * self.output_per_mtok
        ) / 1e6
        return float(f"{total:.12g}")  # no binary float noise (0.000017549999999999996)


@dataclass(frozen=True)
class Price:
    """The cost of one call in USD, or None with the reason in ``note``."""

    cost_usd: float | None
    note: str | None = None
    simulated: bool = False  # the simulator's reference price, not a real model's


_overrides: dict[str, PriceOverride] = {}
_lock = threading.Lock()


def set_price(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cache_read_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
) -> None:
    """Price ``model`` (a ``provider:model`` id or glob such as ``"sim:*"``) per million tokens.

    Overrides win over genai-prices; use them for self-hosted models, the simulator, or a
    negotiated rate.
    """
    values = (input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok)
    if any(v is not None and (not isinstance(v, (int, float)) or v < 0) for v in values):
        raise ConfigError("prices are non-negative numbers of USD per million tokens")
    with _lock:
        _overrides[model] = PriceOverride(*[None if v is None else float(v) for v in values])  # type: ignore[arg-type]


def clear_prices() -> None:
    """Forget every override."""
    with _lock:
        _overrides.clear()


def _override_for(model: str) -> PriceOverride | None:
    with _lock:
        if model in _overrides:
            return _overrides[model]
        for pattern, override in _overrides.items():
            if fnmatch.fnmatchcase(model, pattern):
                return override
    return None


@lru_cache(maxsize=256)
def _known_to_genai_prices(model_name: str, provider_id: str | None) -> bool:
    if price_table.lookup(provider_id, model_name) is not None:
        return True  # the table holds only names genai-prices knows
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    try:
        calc_price(GUsage(input_tokens=1, output_tokens=1), model_ref=model_name, provider_id=provider_id)
    except LookupError:
        return False
    return True


def price_of(usage: Usage, model: str) -> Price:
    """The cost of ``usage`` on ``model`` (``provider:model``)."""
    override = _override_for(model)
    if override is not None:
        return Price(override.cost(usage))
    provider, _, name = model.partition(":")
    provider_id = _GENAI_PROVIDER.get(provider)
    if provider_id is None and provider != "sim":
        return Price(None, f"no price for {model} (self-hosted?): call llmops_nb.set_price({model!r}, "
                           "input_per_mtok=..., output_per_mtok=...)")
    if not _known_to_genai_prices(name, provider_id):
        if provider == "sim":
            from llmops_nb.providers.sim import reference_cost

            cost = reference_cost(name, usage)
            if cost is not None:
                return Price(float(f"{cost:.12g}"), simulated=True)
            return Price(None, f"{model} is configured without a price (priced=False): call "
                               f"llmops_nb.set_price({model!r}, input_per_mtok=..., output_per_mtok=...)")
        return Price(None, f"genai-prices has no price for {model}: call llmops_nb.set_price({model!r}, "
                           "input_per_mtok=..., output_per_mtok=...)")
    return Price(_genai_cost(name, provider_id, usage))


@lru_cache(maxsize=4096)
def _genai_cost(name: str, provider_id: str | None, usage: Usage) -> float:
    # cached: genai-prices' calc_price costs ~65 µs, most of a call's bookkeeping
    entry = price_table.lookup(provider_id, name)
    cost = entry.cost(usage) if entry is not None else None
    if cost is not None:
        return cost  # what genai-prices computes, without loading it (price_table)
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    result = calc_price(
        GUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        ),
        model_ref=name,
        provider_id=provider_id,
    )
    return float(result.total_price)


def providers_knowing(model_name: str) -> list[str]:
    """Our provider names whose genai-prices data knows ``model_name`` (to suggest
    ``openai:gpt-4o-mini`` for a bare ``gpt-4o-mini``)."""
    from genai_prices.data_snapshot import get_snapshot

    known = {p.id: p for p in get_snapshot().providers}
    return [ours for ours, theirs in _GENAI_PROVIDER.items()
            if theirs in known and known[theirs].find_model(model_name) is not None]


# --- what genai-prices knows about a model besides its price ------------------------------------

@dataclass(frozen=True)
class ModelFacts:
    """genai-prices' data on one of our model ids: its context window (input + output tokens;
    None when the data has none), whether the provider deprecated it, and a current replacement
    (as one of our model ids) when the data names one."""

    model: str
    context_window: int | None
    deprecated: bool
    replacement: str | None = None


def model_facts(model: str) -> ModelFacts | None:
    """What genai-prices knows about ``model`` (``provider:model``); None when it does not
    know the model. ``sim:<name>`` is the real model ``<name>``; a named endpoint whose name
    is a provider genai-prices knows (``mistral:``, ``groq:`` …) is that provider's."""
    provider, _, name = model.partition(":")
    return _facts(provider, name)


@lru_cache(maxsize=1024)
def _facts(provider: str, name: str) -> ModelFacts | None:
    entry = price_table.lookup(_GENAI_PROVIDER.get(provider), name)
    if entry is not None:  # genai-prices' answer, without loading it
        replacement = f"{provider}:{entry.replacement}" if entry.replacement else None
        return ModelFacts(f"{provider}:{name}", entry.context_window, entry.deprecated, replacement)
    return facts_from_genai_prices(provider, name)


def facts_from_genai_prices(provider: str, name: str) -> ModelFacts | None:
    """:func:`model_facts` read from genai-prices' data itself (the table's source)."""
    from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

    snapshot = get_snapshot()
    provider_id = _GENAI_PROVIDER.get(provider)
    if provider_id is None and provider != "sim":
        if find_provider_by_id(snapshot.providers, provider) is None:
            return None
        provider_id = provider
    try:
        genai_provider, info = snapshot.find_provider_model(name, None, provider_id, None)
    except LookupError:
        return None
    replacement = None
    if info.deprecated:
        replacement = _replacement(genai_provider, " ".join(filter(None, (info.description, info.price_comments))))
    return ModelFacts(f"{provider}:{name}", info.context_window, bool(info.deprecated),
                      f"{provider}:{replacement}" if replacement else None)


# How the data names a successor: "Recommended replacement is the newer Ministral 8B",
# "Mistral recommends OCR 4.1 for new integrations", "replaced by …", "use … instead". A string,
# compiled (by re's cache) when a deprecated model is first looked up, not by every process's import.
_SUCCESSOR = (r"(?:replacement is(?: the)?(?: newer)?|replaced by(?: the)?|recommends|use)\s+"
              r"(?P<name>[A-Za-z0-9][\w.\- ]*?)(?=\s+(?:for|instead)\b|[.,;:()]\s|[.,;:()]?$)")


def _replacement(genai_provider: Any, text: str) -> str | None:
    """The id of the non-deprecated model of the same provider that ``text`` names, if any."""
    for match in re.finditer(_SUCCESSOR, text, re.IGNORECASE):
        slug = re.sub(r"\s+", "-", match["name"].strip().lower())
        for ref in (slug, slug.replace(".", "-"), f"{genai_provider.id}-{slug}",
                    f"{genai_provider.id}-{slug.replace('.', '-')}"):
            found = genai_provider.find_model(ref)
            if found is not None and not found.deprecated:
                return str(found.id)
    return None


class DeprecatedModelWarning(UserWarning):
    """A model the provider has deprecated (genai-prices' data) was used; it still works."""


_warned: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def warn_if_deprecated(model: str, session: Any) -> bool:
    """Warn (once per ``session``) if ``model`` is deprecated; True if it is."""
    facts = model_facts(model)
    if facts is None or not facts.deprecated:
        return False
    with _lock:
        seen = _warned.setdefault(session, set())
        first = model not in seen
        seen.add(model)
    if first:
        instead = f"use {facts.replacement} instead" if facts.replacement else \
            "the price data names no replacement; see the provider's model list"
        warnings.warn(f"{model} is deprecated by its provider (it still works, for now): {instead}.",
                      DeprecatedModelWarning, stacklevel=_user_stacklevel())
    return True


def deprecated_models(models: Iterable[str]) -> list[dict[str, Any]]:
    """One row (model, replacement) per deprecated model among ``models`` (a session's:
    :meth:`llmops_nb.session.Session.models_in_use`)."""
    rows = []
    for model in dict.fromkeys(models):
        facts = model_facts(model)
        if facts is not None and facts.deprecated:
            rows.append({"model": model, "deprecated": True, "replacement": facts.replacement or ""})
    return rows


def warned_models(session: Any) -> list[str]:
    """The deprecated models ``session`` was warned about (it called them), sorted."""
    with _lock:
        return sorted(_warned.get(session, ()))


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside llmops_nb: a warning points at the user's code."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("llmops_nb"):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level
