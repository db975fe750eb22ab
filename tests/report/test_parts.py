from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.report.charts import bar_chart, heatmap, line_chart, nice_ticks, reliability_plot
from adopt.report.fmt import Raw, esc, num, table
from adopt.report.margin import blocked_cells, margin_cells, placement_margins
from adopt.report.privacy import OTHER, Suppression, redact, suppress_frame, suppress_segments
from adopt.report.words import Steps, explain_constraint, placement_sentence, step_for


def test_numbers_read_well():
    assert num(1234567.8) == "1,234,568"
    assert num(3.14159) == "3.14"
    assert num(0.000123456) == "0.000123"
    assert num(float("nan")) == num(None) == num(float("inf")) == "–"
    assert num(0) == "0"


def test_escape_covers_attribute_contexts():
    assert esc('"><script>x</script>') == "&quot;&gt;&lt;script&gt;x&lt;/script&gt;"
    assert esc("it's") == "it&#x27;s"
    assert esc(pd.NA) == esc(pd.NaT) == esc(float("nan")) == "–"
    html = table([["<b>", 1.5, Raw("<i>ok</i>")]], ["a<", "b", "c"])
    assert "<th>a&lt;</th>" in html and "<td>&lt;b&gt;</td>" in html
    assert '<td class="n">1.5</td>' in html and "<i>ok</i>" in html


@pytest.mark.parametrize(("total", "step"), [(60, 1), (1_200, 100), (100_000, 1_000),
                                             (12_000, 1_000), (11_999, 100), (2e6, 100_000)])
def test_steps_are_round_and_a_few_percent_of_the_total(total, step):
    assert step_for(total) == step


def test_shadow_prices_in_words_use_the_unit_of_the_constraint():
    steps = Steps(spend=1000, impressions=1000, users=100)
    budget = {"name": "budget", "kind": "budget", "shadow_price": 0.02}
    assert explain_constraint(budget, "conversions", steps=steps) == \
        "1,000 more of the total budget would buy about 20 conversions."
    inv = {"name": "inventory[home]", "kind": "inventory", "shadow_price": 0.0005}
    assert explain_constraint(inv, "clicks", steps=steps) == \
        "1,000 more impressions of the inventory of placement home would buy about 0.5 clicks."
    reach = {"name": "min_reach[c1/loyal]", "kind": "min_reach", "shadow_price": -0.01}
    assert explain_constraint(reach, "conversions", steps=steps) == (
        "Raising the minimum reach of campaign c1 in segment loyal by 100 users would cost "
        "about 1 conversions; lowering it by as much would gain about 1 conversions.")
    spend = {"name": "min_spend[segment=loyal]", "kind": "min_spend", "shadow_price": -0.004}
    assert "the minimum spend on segment loyal by 1,000 spend would cost about 4" in \
        explain_constraint(spend, "conversions", steps=steps)
    target = {"name": "target[conversions]", "kind": "target", "shadow_price": 12.5}
    assert explain_constraint(target, "conversions", minimise_spend=True) == \
        "Each extra unit of the conversions target would cost about 12.5 more spend."


def test_placement_sentences():
    at_margin = placement_sentence("search_top", 0.0123, 0.02, "conversions", None)
    assert at_margin == "One more 1,000 on placement search_top would buy about 12.3 conversions."
    full = placement_sentence("search_top", 0.0123, 0.02, "conversions",
                              {"binding": True, "shadow_price": 0.002})
    assert full == ("Placement search_top has no inventory left, so more spend buys nothing "
                    "there; 1,000 more impressions of inventory would add about 2 conversions.")
    capped = placement_sentence("feed", float("nan"), 0.02, "conversions", None,
                                budget_price=0.015)
    assert "one more 1,000 there would buy the next impressions per user: at most about 15 " \
           "conversions (its last impressions bought 20 conversions per 1,000)" in capped


def test_margin_cells_are_partly_bought_and_held_back_by_the_budget_alone():
    alloc = pd.DataFrame({
        "campaign_id": ["c1", "c1", "c1", "c2", "c2"],
        "segment": ["a", "b", "a", "a", "b"],
        "placement_id": ["p1", "p1", "p2", "p1", "p2"],
        "users": [100.0] * 5,
        "impressions": [150.0, 200.0, 50.0, 80.0, 30.0],
        "frequency_cap": [2, 2, 1, 1, 1],
        "spend": [3.0, 4.0, 1.0, 2.0, 1.0],
        "marginal_roi": [0.5, 0.9, 0.4, 0.6, 0.7],
    })
    rows = [{"name": "budget", "kind": "budget", "binding": True},
            {"name": "min_reach[c2/a]", "kind": "min_reach", "binding": True},
            {"name": "max_spend[segment=b]", "kind": "max_spend", "binding": True},
            {"name": "inventory[p9]", "kind": "inventory", "binding": False}]
    assert blocked_cells(alloc, rows).tolist() == [False, True, False, True, True]
    # cell 1 is full (2 x 100), the others are blocked or partial
    assert margin_cells(alloc, rows).tolist() == [True, False, True, False, False]
    per = placement_margins(alloc, rows).set_index("placement_id")
    assert per.loc["p1", "margin_roi"] == pytest.approx(0.5)
    assert per.loc["p1", "last_roi"] == pytest.approx((1.5 + 3.6 + 1.2) / 9)
    assert per.loc["p2", "margin_cells"] == 1
    none = placement_margins(alloc, rows + [{"name": "target_cpa[all]", "kind": "target_cpa",
                                             "binding": True}])
    assert none["margin_roi"].isna().all()


def _cells() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"campaign_id": c, "segment": s, "placement_id": p, "impressions": 100.0,
             "reach": 50.0, "frequency_cap": cap, "avg_frequency": 2.0,
             "spend": float(rng.uniform(1, 10)), "conversions": float(rng.uniform(0, 3)),
             "marginal_roi": float(rng.uniform(0.1, 0.5))}
            for c in ("c1", "c2") for s, cap in (("big", 3), ("tiny", 1), ("mini", 2))
            for p in ("p1", "p2")]
    return pd.DataFrame(rows)


def test_suppress_frame_merges_hidden_segments_and_keeps_totals():
    cells = _cells()
    sup = Suppression.decide({"big": 500, "tiny": 3, "mini": 49}, 50)
    assert sup.hidden == {"tiny", "mini"}
    out = suppress_frame(cells, sup)
    assert set(out["segment"]) == {"big", OTHER}
    assert len(out) == 8  # 2 campaigns x 2 placements x (big, other)
    for col in ("impressions", "spend", "conversions"):
        assert out[col].sum() == pytest.approx(cells[col].sum())
    other = out[(out["segment"] == OTHER) & (out["campaign_id"] == "c1")
                & (out["placement_id"] == "p1")].iloc[0]
    part = cells[(cells["segment"] != "big") & (cells["campaign_id"] == "c1")
                 & (cells["placement_id"] == "p1")]
    assert other["frequency_cap"] == 2
    assert other["avg_frequency"] == pytest.approx(200 / 100)
    assert other["marginal_roi"] == pytest.approx(
        (part["marginal_roi"] * part["spend"]).sum() / part["spend"].sum())
    assert suppress_frame(cells, Suppression.decide({"big": 500}, 50)).equals(cells)


def test_suppress_segments_keeps_only_the_total_size_of_hidden_ones():
    seg = pd.DataFrame({"segment": ["big", "tiny"], "size": [500, 3],
                        "description": ["b", "secret t"], "ctr": [0.1, 0.9]})
    out = suppress_segments(seg, Suppression.decide({"big": 500, "tiny": 3}, 50))
    assert out["segment"].tolist() == ["big", OTHER]
    assert out.loc[1, "size"] == 3 and pd.isna(out.loc[1, "ctr"])
    assert "secret" not in " ".join(out["description"])


def test_redact_replaces_names_only_as_whole_label_parts():
    sup = Suppression(frozenset({"s1", "tiny"}), 50)
    assert redact("min_spend[segment=s1]", sup) == f"min_spend[segment={OTHER}]"
    assert redact("min_reach[c1/tiny]", sup) == f"min_reach[c1/{OTHER}]"
    assert redact("reachable[tiny@p1]", sup) == f"reachable[{OTHER}@p1]"
    assert redact("pin[c1/s1/p0]", sup) == f"pin[c1/{OTHER}/p0]"
    assert redact("min_spend[segment=s10]", sup) == "min_spend[segment=s10]"
    assert redact("inventory[p1]", sup) == "inventory[p1]"


def test_nice_ticks_cover_the_range():
    ticks = nice_ticks(3.2, 97.0)
    assert ticks[0] <= 3.2 and ticks[-1] >= 97.0 and len(ticks) <= 8
    assert nice_ticks(5.0, 5.0)[-1] > 5.0


def test_charts_escape_labels_and_are_plain_svg():
    hostile = "<script>alert(1)</script>"
    charts = [
        heatmap([hostile, "b"], ["p1", hostile], np.array([[1.0, np.nan], [2.0, 3.0]]),
                title=hostile),
        bar_chart([hostile, "x"], [1.0, 2.0], title=hostile),
        line_chart([1, 2, 3], [1, 4, 5], title=hostile, x_label=hostile, y_label="y",
                   mark_x=2, mark_y=4, mark_label=hostile),
        reliability_plot({hostile: ([0.01, 0.02], [0.012, 0.018])}, title=hostile),
    ]
    for svg in charts:
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "<script" not in svg and "&lt;script&gt;" in svg
        assert "href" not in svg and "http" not in svg
