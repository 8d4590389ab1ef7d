"""A compact copy of what genai-prices' data says about the OpenAI and Anthropic models.

A call's pre-call checks (context window, deprecation) and its cost read genai-prices' data;
loading it (its pydantic types and ~30k lines of data, ~150 ms before the first request of a
process) is what the first call paid. This table holds, per model reference of the ``openai``
and ``anthropic`` providers (each model's id and the names its match rules list):

- its context window, whether it is deprecated, and the replacement :mod:`llmops_nb.pricing`
  names for it;
- for a model with one plain or tiered price (no dated or conditional prices, no per-request
  fee), the cost of one input, output, cache-read and cache-write token exactly as genai-prices
  computes it, per tier: for such a price genai-prices' cost is linear in those four counts
  within a tier (a tier is chosen by the input tokens), each entry is checked against
  genai-prices when the table is built, on both sides of every tier's start, and the test suite
  checks every entry again.

The table (``data/genai_prices_table.json``) carries a fingerprint of the genai-prices files it
was built from and is used only while it matches the installed genai-prices and no custom
snapshot is set (``genai_prices.UpdatePrices``, ``set_custom_snapshot``). A name it does not
hold, a usage it cannot price (cache tokens above the input), another genai-prices: genai-prices
answers, as before. Rebuild it with ``python -m llmops_nb.price_table_build`` after upgrading
genai-prices.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmops_nb.types import Usage

PATH = Path(__file__).resolve().parent / "data" / "genai_prices_table.json"
PROVIDERS = ("openai", "anthropic")
# the genai-prices files the table depends on: the data, and the logic that matches and prices it
_SOURCES = ("data.py", "types.py", "units.py", "decompose.py", "data_units.py", "data_snapshot.py")


@dataclass(frozen=True)
class Entry:
    """What the table knows about one model reference."""

    context_window: int | None
    deprecated: bool
    replacement: str | None  # a model name of the same provider
    per_token: tuple[Decimal, Decimal, Decimal, Decimal] | None  # input, output, cache read, cache write
    # tiered prices: (start, per-token costs) ascending; a call whose input tokens exceed a tier's
    # start pays that tier's rates on all its tokens (genai-prices' "cliff" model)
    tiers: tuple[tuple[int, tuple[Decimal, Decimal, Decimal, Decimal]], ...] = ()

    def cost(self, usage: Usage) -> float | None:
        """The cost of ``usage`` as genai-prices computes it; None when this entry cannot say
        (no plain or tiered price, or cache tokens above the input tokens)."""
        if self.per_token is None or usage.cache_read_tokens + usage.cache_write_tokens > usage.input_tokens:
            return None
        per_token = self.per_token
        for start, rates in reversed(self.tiers):
            if usage.input_tokens > start:
                per_token = rates
                break
        c_in, c_out, c_read, c_write = per_token
        total = (c_in * usage.input_tokens + c_out * usage.output_tokens + c_read * usage.cache_read_tokens
                 + c_write * usage.cache_write_tokens)
        return float(total)


_lock = threading.Lock()
_loaded: list[dict[str, dict[str, Entry]] | None] = []


def lookup(provider_id: str | None, name: str) -> Entry | None:
    """The table's entry of ``name`` at ``provider_id`` (a genai-prices provider id); None when
    the table does not hold it or may not be used (see the module docstring)."""
    if provider_id not in PROVIDERS or _custom_snapshot_set():
        return None
    table = _table()
    return None if table is None else table[provider_id].get(name.lower())


def _custom_snapshot_set() -> bool:
    snapshot = sys.modules.get("genai_prices.data_snapshot")
    return snapshot is not None and getattr(snapshot, "_custom_snapshot", None) is not None


def _table() -> dict[str, dict[str, Entry]] | None:
    with _lock:
        if not _loaded:
            _loaded.append(_read())
        return _loaded[0]


def _read() -> dict[str, dict[str, Entry]] | None:
    try:
        raw = json.loads(PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("fingerprint") != fingerprint():
        return None  # built from another genai-prices: not used
    return {provider: {name: _entry(row) for name, row in raw["models"].get(provider, {}).items()}
            for provider in PROVIDERS}


def _entry(row: list[Any]) -> Entry:
    window, deprecated, replacement, per_token, *tiers = row
    return Entry(window, bool(deprecated), replacement,
                 tuple(Decimal(v) for v in per_token) if per_token else None,  # type: ignore[arg-type]
                 tuple((int(start), tuple(Decimal(v) for v in rates)) for start, rates in (tiers[0] if tiers else ())))  # type: ignore[misc]


def fingerprint() -> str | None:
    """A hash of the installed genai-prices' data and pricing logic (None: not installed)."""
    spec = importlib.util.find_spec("genai_prices")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = next(iter(spec.submodule_search_locations))
    digest = hashlib.sha256()
    for name in _SOURCES:
        try:
            digest.update(Path(folder, name).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def reset() -> None:
    """Read the table again on next use (tests)."""
    with _lock:
        _loaded.clear()
