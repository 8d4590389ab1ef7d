"""Monitoring: aggregates over a known history, SLO warnings, the dashboard, failure analysis."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmops_nb import monitor
from llmops_nb.providers import sim
from llmops_nb.tracking import HISTORY_COLUMNS


def known_history() -> pd.DataFrame:
    """300 calls over three days: model a is slow on its tail, model b fails 10 %."""
    rng = np.random.default_rng(0)
    n = 300
    model = np.where(np.arange(n) % 2 == 0, "sim:a", "sim:b")
    status = np.where((model == "sim:b") & (np.arange(n) % 20 == 1), "ERROR", "OK")
    latency = np.where(model == "sim:a", np.arange(n) % 100 * 10.0 + 100, 200.0)
    return pd.DataFrame({
        "started_at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 864, unit="s"),
        "model": model, "provider": "sim", "prompt": np.where(np.arange(n) % 3 == 0, "greet@1", None),
        "input_tokens": 10, "output_tokens": 40, "cost_usd": np.where(status == "OK", 0.01, None),
        "latency_ms": latency, "ttft_ms": latency / 4, "cached": np.arange(n) % 10 == 0, "status": status,
        "error": np.where(status == "OK", None, "sim: HTTP 500 (injected) after 12 ms"),
        "findings": np.where(np.arange(n) % 50 == 0, "pii×1 redact", ""),
        "trace_id": [f"tr-{i}" for i in range(n)], "error_type": np.where(status == "OK", None, "ProviderUnavailable"),
    }, columns=HISTORY_COLUMNS).assign(started_at=lambda d: d["started_at"] + pd.Timedelta(0) * rng.random())


def test_summary_percentiles_rates_and_filters() -> None:
    df = known_history()
    s = monitor.summary(df, by="model")
    a, b = s.loc["sim:a"], s.loc["sim:b"]
    assert a["calls"] == 150 and b["errors"] == 15 and b["error_rate"] == pytest.approx(0.1)
    fresh_a = df[(df["model"] == "sim:a") & ~df["cached"]]["latency_ms"]
    assert a["latency_p99_ms"] == pytest.approx(fresh_a.quantile(0.99))
    assert a["latency_p50_ms"] < a["latency_p95_ms"] < a["latency_p99_ms"] and b["latency_p99_ms"] == 200
    assert a["ttft_p50_ms"] == pytest.approx(a["latency_p50_ms"] / 4, rel=0.05)
    assert a["cache_hit_rate"] == pytest.approx(0.2) and b["tokens_per_s"] == pytest.approx(40 / 0.15)
    assert monitor.summary(df)["calls"].tolist() == [300]
    assert monitor.summary(df, by="day").index.tolist() == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert monitor.summary(df, since="2025-01-02", until="2025-01-03")["calls"].sum() == 100
    assert monitor.summary(df, model="sim:b", status="OK")["errors"].sum() == 0
    assert monitor.summary(df, since="1h")["calls"].sum() == 0  # nothing in the last hour
    assert set(monitor.summary(df, by="prompt").index) == {"greet@1", "(none)"}


def test_cost_by_model_prompt_and_day() -> None:
    c = monitor.cost(known_history(), by=["day", "model"])
    assert len(c) == 6 and c["cost_usd"].sum() == pytest.approx(0.01 * 285)
    assert monitor.cost(known_history(), by="prompt").set_index("prompt")["calls"]["greet@1"] == 100


def test_slo_check_returns_and_warns_breaches() -> None:
    df = known_history()
    with pytest.warns(monitor.SLOBreach) as caught:
        breaches = monitor.slo_check(df, p99_latency_ms=500, error_rate=0.02, daily_cost_usd=0.5)
    kinds = sorted((b.slo, b.scope) for b in breaches)
    assert ("p99_latency_ms", "model=sim:a") in kinds and ("error_rate", "model=sim:b") in kinds
    assert [k for k in kinds if k[0] == "daily_cost_usd"] == [("daily_cost_usd", f"day=2025-01-0{d}") for d in (1, 2, 3)]
    assert len(caught) == len(breaches) == 5
    assert str(caught[0].message).startswith("SLO breached: p99_latency_ms")
    assert monitor.slo_check(df, p99_latency_ms=5000, error_rate=0.5, daily_cost_usd=10) == []


def test_dashboard_renders_to_png(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.png"
    monitor.dashboard(known_history()).save(str(out), scale_factor=1.5)
    assert out.stat().st_size > 20_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failure_analysis_groups_by_cause_offline() -> None:
    df = known_history()
    t = monitor.failure_analysis(df)
    top = t.iloc[0]
    assert top["kind"] == "error" and top["calls"] == 15 and top["models"] == "sim:b"
    assert top["cause"] == "ProviderUnavailable: sim: HTTP <n> (injected) after <n> ms"
    assert ("finding", "pii") in set(zip(t["kind"], t["cause"], strict=True))
    scored = pd.DataFrame({"model": ["m"] * 4, "status": "OK", "output": ["a", "b", "c", "d"],
                           "quality": [0.9, 0.2, 0.1, 0.8]})
    low = monitor.failure_analysis(scored, score="quality", threshold=0.5)
    assert low[["kind", "cause", "calls"]].values.tolist() == [["low score", "quality < 0.5", 2]]


def test_failure_analysis_reads_the_store_and_asks_a_route(llm) -> None:  # type: ignore[no-untyped-def]
    sim.configure_model("flaky", failures=["500", "timeout", "500"])
    sim.configure_model("advisor", reply="1. Ask for JSON only.")
    for i in range(4):
        with contextlib.suppress(llm.ProviderError):
            llm.complete("sim:flaky", f"hello {i}", cache=False)
    t = monitor.failure_analysis(route="sim:advisor")
    assert dict(zip(t["cause"].str.split(":").str[0], t["calls"], strict=True)) == {
        "ProviderUnavailable": 2, "ProviderTimeout": 1}
    assert t.attrs["suggestions"] == "1. Ask for JSON only."
    assert monitor.summary(by="model").loc["sim:flaky", "errors"] == 3
