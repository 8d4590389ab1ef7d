"""Build :mod:`llmops_nb.price_table`'s table from the installed genai-prices.

    python -m llmops_nb.price_table_build

Every entry is what genai-prices itself resolves that reference to at that provider
(:func:`llmops_nb.pricing.facts_from_genai_prices`), and a price is kept only when its per-token
costs reproduce genai-prices' cost exactly on a set of usages.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any

from llmops_nb.price_table import PATH, PROVIDERS, Entry, fingerprint
from llmops_nb.pricing import facts_from_genai_prices
from llmops_nb.types import Usage

_PROBES = [(1, 0, 0, 0), (0, 1, 0, 0), (1, 0, 1, 0), (1, 0, 0, 1)]  # input, output, cache read, cache write
_CHECKS = [(1234, 567, 0, 0), (90_000, 4096, 30_000, 0), (50_000, 1, 1000, 20_000), (7, 3, 2, 5),
           (2_000_000, 100_000, 1_000_000, 500_000)]


def genai_cost(name: str, provider_id: str | None, counts: tuple[int, int, int, int]) -> Decimal:
    """genai-prices' own cost of ``counts`` (input, output, cache read, cache write) now."""
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    i, o, r, w = counts
    usage = GUsage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w)
    return calc_price(usage, model_ref=name, provider_id=provider_id).total_price


def _per_token(name: str, provider_id: str, info: Any) -> list[str] | None:
    """The per-token costs of a plain-priced model, checked against genai-prices; else None."""
    from genai_prices import types

    prices = info.prices
    if not isinstance(prices, types.ModelPrice) or any(
            isinstance(v, types.TieredPrices) for v in prices.__dict__.values()):
        return None
    try:
        if genai_cost(name, provider_id, (0, 0, 0, 0)) != 0:
            return None  # a per-request fee
        c_in, c_out, read, write = (genai_cost(name, provider_id, p) for p in _PROBES)
        per = (c_in, c_out, read - c_in, write - c_in)
        entry = Entry(None, False, None, per)
        for counts in _CHECKS:
            if entry.cost(Usage(*counts)) != float(genai_cost(name, provider_id, counts)):
                return None
    except (LookupError, ValueError, ArithmeticError):
        return None
    return [str(v) for v in per]


def _references(model: Any) -> list[str]:
    """A model's id and the names its match rules list (each matches itself)."""
    refs = [model.id]
    todo = [model.match]
    while todo:
        clause = todo.pop()
        refs.extend(getattr(clause, key) for key in ("equals", "starts_with", "contains") if hasattr(clause, key))
        todo.extend(getattr(clause, "or_", None) or [])
        todo.extend(getattr(clause, "and_", None) or [])
    return list(dict.fromkeys(r.lower() for r in refs))


def build() -> dict[str, Any]:
    """The table, from the installed genai-prices (every entry is what genai-prices resolves
    that reference to at that provider)."""
    from genai_prices.data_snapshot import get_snapshot

    snapshot = get_snapshot()
    models: dict[str, dict[str, Any]] = {}
    for provider in PROVIDERS:
        rows = models[provider] = {}
        genai_provider = next(p for p in snapshot.providers if p.id == provider)
        for model in genai_provider.models:
            for ref in _references(model):
                if ref in rows:
                    continue
                try:
                    _, info = snapshot.find_provider_model(ref, None, provider, None)
                except LookupError:
                    continue
                facts = facts_from_genai_prices(provider, ref)
                if facts is None:
                    continue
                replacement = facts.replacement.partition(":")[2] if facts.replacement else None
                rows[ref] = [facts.context_window, facts.deprecated, replacement, _per_token(ref, provider, info)]
    return {"fingerprint": fingerprint(), "models": models}


def main() -> None:
    PATH.write_text(json.dumps(build(), indent=0, sort_keys=True) + os.linesep, encoding="utf-8")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
