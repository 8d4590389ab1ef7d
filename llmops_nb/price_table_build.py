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


def _rates(name: str, provider_id: str, n: int) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The per-token costs (input, output, cache read and write over input) of a call with ``n``
    input tokens, from genai-prices' costs of calls that differ by one token."""
    base = genai_cost(name, provider_id, (n, 0, 0, 0))
    return (base / n, genai_cost(name, provider_id, (n, 1, 0, 0)) - base,
            genai_cost(name, provider_id, (n, 0, 1, 0)) - base, genai_cost(name, provider_id, (n, 0, 0, 1)) - base)


def _per_token(name: str, provider_id: str, info: Any) -> tuple[list[str], list[Any]] | None:
    """The per-token costs of a plain or tiered price (and the tiers': start, costs), checked
    against genai-prices; else None."""
    from genai_prices import types

    prices = info.prices
    if not isinstance(prices, types.ModelPrice):
        return None
    starts = sorted({tier.start for v in prices.__dict__.values() if isinstance(v, types.TieredPrices)
                     for tier in v.tiers})
    try:
        if genai_cost(name, provider_id, (0, 0, 0, 0)) != 0:
            return None  # a per-request fee
        entry = Entry(None, False, None, _rates(name, provider_id, 1),
                      tuple((start, _rates(name, provider_id, start + 1)) for start in starts))
        bounds = [0, *starts, (starts[-1] if starts else 0) + 3_000_000]
        checks = list(_CHECKS)
        for low, high in zip(bounds, bounds[1:], strict=False):  # inside each tier and at its edges
            for i in (low + 1, low + 7, (low + high) // 2, high):
                checks += [(i, 567, 0, 0), (i, 4096, i // 3, 0), (i, 1, i // 50, i // 2), (i, 3, 0, 1)]
        for counts in checks:
            if entry.cost(Usage(*counts)) != float(genai_cost(name, provider_id, counts)):
                return None
    except (LookupError, ValueError, ArithmeticError):
        return None
    assert entry.per_token is not None
    return [str(v) for v in entry.per_token], [[start, [str(v) for v in rates]] for start, rates in entry.tiers]


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
                priced = _per_token(ref, provider, info)
                row = [facts.context_window, facts.deprecated, replacement, priced[0] if priced else None]
                rows[ref] = row + [priced[1]] if priced and priced[1] else row
    return {"fingerprint": fingerprint(), "models": models}


def main() -> None:
    PATH.write_text(json.dumps(build(), indent=0, sort_keys=True) + os.linesep, encoding="utf-8")
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
