"""A fresh process's and a fresh kernel's start-up: what runs before the first request leaves
(issue 15, cold start). Import sets and orders, never milliseconds (a loaded CI machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD_EXT = """
import json, sys, threading
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
main, imported = threading.get_ident(), []
sys.addaudithook(lambda event, args: imported.append(args[0])
                 if event == "import" and threading.get_ident() == main and args[0] not in sys.modules else None)
ip.run_line_magic("load_ext", "llmops_nb")
done = list(imported)
ip.run_cell("%%llm sim:echo --no-stream\\nhello")  # the magics still work, imported on first use
print(json.dumps({"imported": done, "ran": "llmops_nb.magics" in sys.modules}))
"""

# what %load_ext may import in the loading thread: the package, the magics' names, the
# warm-up's starter and the kernel registration (and IPython's own extension machinery);
# outside a kernel the registration reads no settings
# magic_help: the help texts the magics' names carry (plain strings, no imports)
LOAD_EXT_MAY_IMPORT = {"llmops_nb", "llmops_nb.magic_names", "llmops_nb.magic_help", "llmops_nb.warmup",
                       "llmops_nb.kernel_report", "IPython.core.magics.extension"}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path), "LLMOPS_TRACKING": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}
    env.pop("LLMOPS_WARMUP", None)
    return env


def test_load_ext_imports_only_the_magics_names(tmp_path):
    """``%load_ext`` registered LLMMagics, importing the magics module, its argument parsers and
    the renderer with its HTML sanitizer (~20 ms of a ~25 ms load); they now come when a magic
    first runs. (The warm-up thread it starts imports in its own thread: not counted here.)"""
    out = subprocess.run([sys.executable, "-c", LOAD_EXT], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    ours = {m for m in got["imported"] if m.startswith("llmops_nb") or m.startswith("IPython")}
    assert ours <= LOAD_EXT_MAY_IMPORT, sorted(ours - LOAD_EXT_MAY_IMPORT)
    assert "nh3" not in got["imported"] and got["ran"], got


def test_the_magics_opt_out_of_ipython_expansion_by_ipythons_own_attribute():
    from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR

    from llmops_nb import magic_names

    assert magic_names._NO_VAR_EXPAND == MAGIC_NO_VAR_EXPAND_ATTR


FIRST_CALL = """
import json, sys
events = []
sys.addaudithook(lambda event, args: events.append(args[0].split('.')[0]) if event == "import" and
                 args[0].startswith("genai_prices") else events.append("sent") if event == "socket.connect" else None)
import llmops_nb as llm
c = llm.complete("openai:gpt-5.4-mini", "Say hello", max_cost=float(sys.argv[1]) if sys.argv[1] else None)
print(json.dumps({"order": list(dict.fromkeys(events)), "cost": c.cost_usd, "usage": c.usage.__dict__}))
"""


def _skip_unless_the_table_is_current() -> None:
    """The shipped price table is used only with the genai-prices it was built from (a newer
    release from PyPI falls back to genai-prices itself, as designed). Then these tests say so
    instead of failing: rebuild it with ``python -m llmops_nb.price_table_build``."""
    import pytest

    from llmops_nb import price_table

    shipped = json.loads(price_table.PATH.read_text(encoding="utf-8"))["fingerprint"]
    if shipped != price_table.fingerprint():
        from importlib.metadata import version

        pytest.skip(f"the price table was built from another genai-prices than the installed "
                    f"{version('genai-prices')}: python -m llmops_nb.price_table_build")


def test_the_first_call_sends_before_loading_genai_prices(tmp_path, fake_openai):
    """The pre-call checks (context window, deprecation; a budget's estimate) and the cost read
    the table of genai-prices' facts (llmops_nb.price_table): genai-prices (~150 ms of imports and
    data) was loaded by the plan, before the first request left. The cost is genai-prices' own."""
    from llmops_nb.price_table_build import genai_cost
    from llmops_nb.pricing import price_of
    from llmops_nb.types import Usage

    _skip_unless_the_table_is_current()
    for budget in ("", "1.0"):  # no budget; a per-call budget (its estimate is checked before sending)
        home = tmp_path / f"home{budget}"
        env = _env(home, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url)
        out = subprocess.run([sys.executable, "-c", FIRST_CALL, budget], capture_output=True, text=True, env=env,
                             timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["order"] == ["sent"], got
        usage = Usage(**got["usage"])
        counts = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
        assert got["cost"] == float(genai_cost("gpt-5.4-mini", "openai", counts)) == price_of(
            usage, "openai:gpt-5.4-mini").cost_usd > 0


def test_every_entry_of_the_price_table_is_what_genai_prices_says():
    """Facts (window, deprecated, replacement) and costs, for every reference the table holds,
    on usages with and without cache reads and writes, and on both sides of each price tier's
    start (a tiered model, such as claude-sonnet-4-5 in every first compare of the benchmarks,
    loaded genai-prices: ~150 ms of CPU). A stale table (another genai-prices)
    would not be used: rebuild it with ``python -m llmops_nb.price_table_build``."""
    import random

    from llmops_nb import price_table
    from llmops_nb.price_table_build import genai_cost
    from llmops_nb.pricing import facts_from_genai_prices
    from llmops_nb.types import Usage

    _skip_unless_the_table_is_current()
    price_table.reset()
    assert price_table._table() is not None, "the table is stale: python -m llmops_nb.price_table_build"
    rng = random.Random(15)
    priced = tiered = 0
    for provider in price_table.PROVIDERS:
        for name, entry in price_table._table()[provider].items():
            facts = facts_from_genai_prices(provider, name)
            assert facts is not None
            assert (entry.context_window, entry.deprecated, entry.replacement) == (
                facts.context_window, facts.deprecated, facts.replacement and facts.replacement.split(":", 1)[1])
            if entry.per_token is None:
                continue
            priced += 1
            tiered += bool(entry.tiers)
            for start, _rates in entry.tiers:  # a tier's rates start one token above its start
                for counts in ((start, 1000, 0, 0), (start + 1, 1000, 0, 0), (start + 1, 7, start // 2, 3)):
                    assert entry.cost(Usage(*counts)) == float(genai_cost(name, provider, counts)), (name, counts)
            for _ in range(3):
                i = rng.randrange(0, 3_000_000)
                r = rng.randrange(0, i + 1)
                counts = (i, rng.randrange(0, 200_000), r, rng.randrange(0, i - r + 1))
                assert entry.cost(Usage(*counts)) == float(genai_cost(name, provider, counts)), (name, counts)
    assert priced > 100 and tiered >= 30  # tiered: claude-sonnet-4-5, gpt-5.4, gpt-5.5 … (genai-prices' cliff model)


def test_the_table_gives_way_to_genai_prices(tmp_path, monkeypatch):
    """Another genai-prices (its fingerprint), a custom snapshot (UpdatePrices), a name the
    table does not hold, cache tokens above the input: genai-prices answers."""
    from genai_prices import data_snapshot

    from llmops_nb import price_table
    from llmops_nb.types import Usage

    price_table.reset()
    entry = price_table.lookup("openai", "GPT-5.4-mini")
    assert entry is not None and entry.cost(Usage(10, 5, 11, 0)) is None
    assert price_table.lookup("openai", "gpt-5.4-mini-from-the-future") is None
    assert price_table.lookup("mistral", "gpt-5.4-mini") is None
    monkeypatch.setattr(data_snapshot, "_custom_snapshot", data_snapshot.get_snapshot())
    assert price_table.lookup("openai", "gpt-5.4-mini") is None
    monkeypatch.setattr(data_snapshot, "_custom_snapshot", None)
    stale = tmp_path / "table.json"
    stale.write_text(json.dumps({**json.loads(price_table.PATH.read_text()), "fingerprint": "another"}))
    monkeypatch.setattr(price_table, "PATH", stale)
    price_table.reset()
    try:
        assert price_table.lookup("openai", "gpt-5.4-mini") is None
    finally:
        monkeypatch.undo()
        price_table.reset()


FIRST_CALL_IMPORTS = """
import json, sys, threading
main, seen = threading.get_ident(), set()

class Seen:  # consulted first for every module not imported yet; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if threading.get_ident() == main:
            seen.add(name)

sys.meta_path.insert(0, Seen())
import llmops_nb as llm
c = llm.complete("openai:gpt-5.4-mini", "Say hello", stream=sys.argv[1] == "stream")
print(json.dumps([c.cached, sorted(seen)]))
"""
# what the exporter (its thread), the cache's writer (its thread) and the read API need, not a call
NOT_ON_A_FIRST_CALLS_PATH = {"llmops_nb.tracking", "llmops_nb.mlflow_export", "llmops_nb.mlflow_setup",
                             "llmops_nb.run_totals", "diskcache", "mlflow"}


def test_a_first_call_imports_neither_the_mlflow_side_nor_diskcache(tmp_path, fake_openai):
    """As shipped (tracking and the cache on), the calling thread of a fresh process imports
    nothing of the exporter or the read API (``current_group()`` lived in tracking, which
    imports the exporter: ~2,000 lines) and no diskcache (building a ``diskcache.Cache`` for the
    lookup committed its settings: up to 12 fdatasyncs on the first call's path), neither for a
    miss in a new cache nor for a hit in an existing one."""
    env = _env(tmp_path, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url,
               LLMOPS_TRACKING="true", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    for mode, cached in (("stream", False), ("whole", True)):  # the second is answered from the first's entry
        out = subprocess.run([sys.executable, "-c", FIRST_CALL_IMPORTS, mode], capture_output=True, text=True,
                             env=env, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        hit, imported = json.loads(out.stdout.strip().splitlines()[-1])
        assert hit is cached and "llmops_nb.pipeline" in imported
        assert not NOT_ON_A_FIRST_CALLS_PATH.intersection(imported), mode
