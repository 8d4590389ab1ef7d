"""Altair charts of comparisons and call history.

Charts are built from plain DataFrames (the table :func:`llmops_nb.comparison.compare` returns),
so they render the same in JupyterLab, in a static export (``chart.save("c.png")`` with
vl-convert) and in nbval-checked notebooks.
"""

from __future__ import annotations

import math
from typing import Any

# two-sided 95 % Student t quantiles by degrees of freedom (normal beyond 30)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
EXTENTS = ("sd", "ci")


def _t95(dof: int) -> float:
    if dof > 30:
        return 1.96
    return _T95[max(k for k in _T95 if k <= dof)]  # the next lower tabulated dof: a wider interval


def _spread(sd: float, n: int, extent: str) -> float:
    if n < 2 or math.isnan(sd):
        return 0.0
    return sd if extent == "sd" else _t95(n - 1) * sd / math.sqrt(n)


def cost_latency_stats(df: Any, *, by: str = "model", extent: str = "sd", include_cached: bool = False) -> Any:
    """Per ``by`` group: n, mean and spread of latency (ms) and cost (USD), with the error-bar
    ends (``*_lo``/``*_hi``). ``extent``: ``"sd"`` (mean ± one standard deviation) or ``"ci"``
    (95 % confidence interval of the mean, Student t). Failed calls are left out, and cache
    hits too unless ``include_cached`` (they measure the cache, not the model)."""
    import pandas as pd

    if extent not in EXTENTS:
        raise ValueError(f"extent must be one of {EXTENTS}, not {extent!r}")
    rows = df[df["status"] == "OK"]
    if not include_cached:
        rows = rows[~rows["cached"].astype(bool)]
    out = []
    for key, g in rows.groupby(by, sort=False):
        lat, cost = g["latency_ms"].astype(float), pd.to_numeric(g["cost_usd"], errors="coerce").dropna()
        item = {by: key, "n": len(g)}
        for name, values in (("latency_ms", lat), ("cost_usd", cost)):
            mean = float(values.mean()) if len(values) else math.nan
            half = _spread(float(values.std()) if len(values) > 1 else math.nan, len(values), extent)
            item.update({name: mean, f"{name}_lo": mean - half, f"{name}_hi": mean + half})
        out.append(item)
    columns = [by, "n", *[f"{m}{s}" for m in ("latency_ms", "cost_usd") for s in ("", "_lo", "_hi")]]
    return pd.DataFrame(out, columns=columns)


def cost_latency_chart(df: Any, *, by: str = "model", extent: str = "sd", include_cached: bool = False,
                       title: str = "Cost vs latency", width: int = 520, height: int = 340) -> Any:
    """Cost per call against latency per call, one point per model at the mean, with error
    bars in both directions over its calls (samples × inputs × prompts); see
    :func:`cost_latency_stats` for ``extent`` and what is left out."""
    import altair as alt

    stats = cost_latency_stats(df, by=by, extent=extent, include_cached=include_cached)
    stats = stats.dropna(subset=["latency_ms", "cost_usd"])
    what = "± 1 sd" if extent == "sd" else "with 95% CI"
    subtitle = f"mean {what} over each {by}'s calls; failed{'' if include_cached else ' and cached'} calls left out"
    base = alt.Chart(stats)
    x = alt.X("latency_ms:Q", title="latency per call (ms)", scale=alt.Scale(zero=False, nice=True))
    y = alt.Y("cost_usd:Q", title="cost per call (USD)", scale=alt.Scale(zero=False, nice=True),
              axis=alt.Axis(format="$.3~g"))
    color = alt.Color(f"{by}:N", title=by, legend=alt.Legend(orient="right"))
    tooltip = [alt.Tooltip(f"{by}:N"), alt.Tooltip("n:Q", title="calls"),
               alt.Tooltip("latency_ms:Q", format=".0f", title="mean latency (ms)"),
               alt.Tooltip("cost_usd:Q", format="$.6f", title="mean cost")]
    horizontal = base.mark_rule(strokeWidth=1.5).encode(x="latency_ms_lo:Q", x2="latency_ms_hi:Q",
                                                        y="cost_usd:Q", color=color)
    vertical = base.mark_rule(strokeWidth=1.5).encode(x="latency_ms:Q", y="cost_usd_lo:Q", y2="cost_usd_hi:Q",
                                                      color=color)
    points = base.mark_point(filled=True, size=90, opacity=1).encode(x=x, y=y, color=color, tooltip=tooltip)
    labels = base.mark_text(align="left", dx=8, dy=-8, fontSize=11).encode(
        x="latency_ms:Q", y="cost_usd:Q", text=f"{by}:N", color=color)
    return (horizontal + vertical + points + labels).properties(
        width=width, height=height, title=alt.Title(title, subtitle=subtitle))


def findings_chart(df: Any, *, freq: str = "1h") -> Any:
    """Guardrail findings by type and action over time: stacked bars per time bucket, one
    colour per action (block / redact / warn), one row of bars per finding type.

    ``df`` is :func:`llmops_nb.findings` (one row per finding); ``freq`` is the bucket width
    (a pandas frequency such as ``"1min"``, ``"1h"``, ``"1D"``)."""
    import altair as alt
    import pandas as pd

    bucket = pd.to_datetime(df["started_at"]).dt.floor(freq)
    data = df.assign(bucket=bucket.dt.strftime("%Y-%m-%d %H:%M")) \
        .groupby(["bucket", "type", "action"], as_index=False).size().rename(columns={"size": "findings"})
    colours = alt.Scale(domain=["block", "redact", "warn"], range=["#c0392b", "#e67e22", "#7f8c8d"])
    return alt.Chart(data, title="Guardrail findings by type and action").mark_bar().encode(
        x=alt.X("bucket:O", title=f"time (UTC, per {freq})", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(findings):Q", title="findings"),
        color=alt.Color("action:N", scale=colours, title="action"),
        row=alt.Row("type:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        tooltip=["bucket:O", "type:N", "action:N", "findings:Q"],
    ).properties(width=420, height=60)


# --- experiments and monitoring (llmops_nb.experiments, llmops_nb.monitor) -------------------------

def effect_chart(result: Any, *, width: int = 460) -> Any:
    """Each pair's effect (second minus first) with its interval, a rule at zero; pairs whose
    Holm-adjusted p-value clears the threshold are coloured. ``result`` is an
    :class:`~llmops_nb.experiments.ExperimentResult`."""
    import altair as alt
    import pandas as pd

    rows = [{"pair": f"{p.second} − {p.first}", "effect": p.effect, "lo": p.interval[0], "hi": p.interval[1],
             "p": p.adjusted_p, "verdict": "significant" if p.significant else "not significant"}
            for p in result.pairs]
    data = pd.DataFrame(rows)
    colours = alt.Scale(domain=["significant", "not significant"], range=["#1f77b4", "#9e9e9e"])
    y = alt.Y("pair:N", title=None, sort=None)
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=3).encode(x=alt.X("lo:Q", title=f"effect on mean {result.metric}"),
                                                 x2="hi:Q", y=y, color=alt.Color("verdict:N", scale=colours))
    dots = base.mark_point(filled=True, size=110, opacity=1).encode(
        x="effect:Q", y=y, color=alt.Color("verdict:N", scale=colours, title=None),
        tooltip=["pair:N", alt.Tooltip("effect:Q", format="+.3f"), alt.Tooltip("lo:Q", format="+.3f"),
                 alt.Tooltip("hi:Q", format="+.3f"), alt.Tooltip("p:Q", format=".3g")])
    labels = base.mark_text(dy=-12, fontSize=11).encode(x="effect:Q", y=y, text=alt.Text("effect:Q", format="+.3f"))
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 3], color="#444").encode(x="x:Q")
    title = alt.Title(f"{result.name}: effect with its interval", subtitle=f"{result.test}; {result.decision}")
    return (zero + bars + dots + labels).properties(width=width, height=max(60, 45 * len(rows)), title=title)


def latency_percentiles_chart(stats: Any, *, by: str = "model", width: int = 300) -> Any:
    """Grouped bars of p50 / p95 / p99 latency (ms) per ``by`` (from ``monitor.summary``)."""
    import altair as alt

    long = stats.reset_index().melt(id_vars=[by], value_vars=["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"],
                                    var_name="percentile", value_name="ms")
    long["percentile"] = long["percentile"].str.extract(r"(p\d+)", expand=False)
    return alt.Chart(long, title="Latency percentiles (ms)").mark_bar().encode(
        y=alt.Y(f"{by}:N", title=None), yOffset=alt.YOffset("percentile:N", sort=["p50", "p95", "p99"]),
        x=alt.X("ms:Q", title="latency (ms)"),
        color=alt.Color("percentile:N", sort=["p50", "p95", "p99"], scale=alt.Scale(scheme="blues"),
                        legend=alt.Legend(orient="bottom")),
        tooltip=[f"{by}:N", "percentile:N", alt.Tooltip("ms:Q", format=".0f")]).properties(width=width)


def cost_by_day_chart(costs: Any, *, width: int = 300) -> Any:
    """Stacked bars of cost (USD) per day, one colour per model (from ``monitor.cost(by=["day", "model"])``)."""
    import altair as alt

    return alt.Chart(costs, title="Cost by day and model (USD)").mark_bar().encode(
        x=alt.X("day:O", title="day (UTC)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cost_usd:Q", title="cost (USD)", axis=alt.Axis(format="$.2~g")),
        color=alt.Color("model:N", legend=alt.Legend(orient="bottom")),
        tooltip=["day:O", "model:N", alt.Tooltip("cost_usd:Q", format="$.6f"), "calls:Q"]).properties(width=width, height=220)


def rates_chart(stats: Any, *, by: str = "model", width: int = 300, row_step: int = 75) -> Any:
    """Error rate and cache-hit rate per ``by``, side by side (from ``monitor.summary``): one
    bar per row of each panel, on the row's own label, its value written at its end (so 0 %
    is shown, not an empty slot). ``row_step`` (px per row) matches the latency chart's rows."""
    import altair as alt

    table = stats.reset_index()

    def panel(column: str, title: str, colour: str, labels: bool) -> Any:
        data = table[[by, column]].rename(columns={column: "share"}).fillna({"share": 0.0})
        y = alt.Y(f"{by}:N", title=None, axis=alt.Axis(labels=labels, ticks=labels))
        x = alt.X("share:Q", title=title, axis=alt.Axis(format="%", tickCount=4), scale=alt.Scale(domain=[0, 1]))
        base = alt.Chart(data)
        bars = base.mark_bar(color=colour, height={"band": 0.6}).encode(
            y=y, x=x, tooltip=[f"{by}:N", alt.Tooltip("share:Q", format=".1%", title=title)])
        values = base.mark_text(align="left", dx=4, fontSize=11).encode(y=y, x=x, text=alt.Text("share:Q", format=".0%"))
        return (bars + values).properties(width=max(80, width // 2 - 20), height=alt.Step(row_step))

    return alt.hconcat(panel("error_rate", "errors", "#c0392b", True),
                       panel("cache_hit_rate", "cache hits", "#27ae60", False), spacing=12) \
        .properties(title="Error and cache-hit rates")
