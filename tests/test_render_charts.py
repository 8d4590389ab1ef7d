"""Charts that show rates: each bar sits on its own row's label, and its value is written."""

from __future__ import annotations

import json

import pandas as pd

from llmops_nb import viz


def test_rate_bars_sit_on_their_labels_and_show_zero():
    stats = pd.DataFrame({"model": ["sim:a", "sim:b", "sim:c"], "error_rate": [0.0, 0.25, 0.0],
                          "cache_hit_rate": [0.0, 0.0, 0.5]}).set_index("model")
    spec = viz.rates_chart(stats).to_dict()
    text = json.dumps(spec)
    assert "yOffset" not in text  # an offset inside the band put a lone bar beside its label
    panels = spec["hconcat"]
    assert len(panels) == 2
    for panel in panels:
        marks = [layer["mark"]["type"] for layer in panel["layer"]]
        assert marks == ["bar", "text"]
        assert all(layer["encoding"]["y"]["field"] == "model" for layer in panel["layer"])
    # the data behind the panels: every model, with 0 where nothing happened
    values = {name: rows for name, rows in spec["datasets"].items()}
    shares = sorted(round(r["share"], 2) for rows in values.values() for r in rows)
    assert shares == [0.0, 0.0, 0.0, 0.0, 0.25, 0.5]
