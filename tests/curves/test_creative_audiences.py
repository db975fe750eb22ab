"""Each creative's clicks by audience, beyond its effect: read where real, else none."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from adopt.curves.creative_audiences import (
    AudienceEffects,
    audience_groupings,
    binned,
    fit_audience_effects,
)
from adopt.curves.creatives import CreativeEffects

ADS, SEGMENTS, ROWS = 30, 4, 400  # logged rows per creative x segment


def _logs(appeal_sd: float, seed: int = 0) -> tuple[list[pd.DataFrame], pd.DataFrame,
                                                     np.ndarray]:
    """Logged rows of ADS creatives x SEGMENTS segments: the model's p around 5%, each
    creative's shift already fitted (0.2), clicks drawn with a true factor per cell."""
    rng = np.random.default_rng(seed)
    ad = np.repeat([f"a{i:02d}" for i in range(ADS)], SEGMENTS * ROWS)
    segment = np.tile(np.repeat([f"s{j}" for j in range(SEGMENTS)], ROWS), ADS)
    p = expit(rng.normal(logit(0.05), 0.5, len(ad)))
    truth = np.exp(rng.normal(0.0, appeal_sd, (ADS, SEGMENTS))) if appeal_sd else \
        np.ones((ADS, SEGMENTS))
    cell = np.repeat(np.arange(ADS * SEGMENTS), ROWS)
    moved = expit(logit(p) + 0.2)  # the curves' model after the creative's own effect
    clicked = (rng.random(len(ad)) < np.clip(moved * truth.ravel()[cell], 0, 1)).astype(float)
    creatives = pd.DataFrame({"click_shift": 0.2, "conversion_shift": -0.1},
                             index=pd.Index(np.unique(ad), name="ad_id"))
    # two batches, as the pass reads them
    half = len(ad) // 2
    parts = [binned(ad[s], segment[s], p[s], clicked[s]) for s in (slice(0, half),
                                                                   slice(half, None))]
    return parts, creatives, truth


def _fit(parts, creatives) -> AudienceEffects | None:
    users = pd.Series(["s0"], index=pd.Index(["u1"], name="user_id"))
    return fit_audience_effects({"segment": parts}, creatives, 0.5, {"segment": users})


def test_no_spread_beyond_chance_moves_nothing() -> None:
    # every creative appeals to every segment alike: the cells' spread is their counts'
    # chance, the moment estimate finds none and the creative's own shift stays
    assert all(_fit(*_logs(0.0, seed)[:2]) is None for seed in range(5))


def test_a_creatives_appeal_by_segment_is_read_and_shrunk() -> None:
    parts, creatives, truth = _logs(0.4)
    effects = _fit(parts, creatives)
    assert effects is not None and 2 < effects.strength < 50  # 1 / var of the factor: ~5
    table = effects.table
    got = table["factor"].to_numpy().reshape(ADS, SEGMENTS)
    raw = (table["clicks"] / table["expected_clicks"]).to_numpy().reshape(ADS, SEGMENTS)
    assert np.corrcoef(np.log(got).ravel(), np.log(truth).ravel())[0, 1] > 0.8
    # shrunk: nearer 1 than the raw ratio, and nearer the truth on the whole
    assert (np.abs(np.log(got)) <= np.abs(np.log(raw)) + 1e-12).all()
    assert np.mean((np.log(got) - np.log(truth)) ** 2) < np.mean((np.log(raw)
                                                                 - np.log(truth)) ** 2)
    # a cell's shift takes the model on its logged rows to its expectation x its factor
    bins = pd.concat(parts).groupby(level=[0, 1, 2]).sum().reset_index()
    cell = bins.loc[(bins["ad_id"] == "a03") & (bins["group"] == "s1")]
    x = cell["bin"].to_numpy(float) * 0.05
    row = table.loc[("a03", "s1")]
    assert (cell["weight"] * expit(x + row["click_shift"])).sum() == pytest.approx(
        row["factor"] * row["expected_clicks"], rel=1e-9)
    # conversions per click follow the click factor by the creatives' link slope
    assert row["conversion_shift"] == pytest.approx(-0.1 + 0.5 * np.log(row["factor"]))


def test_a_row_takes_its_cells_shifts_where_its_user_has_a_segment() -> None:
    table = pd.DataFrame({"clicks": [9, 1], "expected_clicks": [5.0, 5.0], "factor": [1.5, 0.6],
                          "click_shift": [0.7, -0.4], "conversion_shift": [0.3, -0.2]},
                         index=pd.MultiIndex.from_tuples([("a1", "s1"), ("a1", "s2")],
                                                         names=["ad_id", "group"]))
    segment_of = pd.Series(["s1", "s2"], index=pd.Index(["u1", "u2"], name="user_id"))
    effects = CreativeEffects(
        table=pd.DataFrame({"click_shift": [0.2, 0.5], "conversion_shift": [0.1, 0.0],
                            "click_factor": [1.2, 1.6], "conversion_factor": [1.1, 1.0]},
                           index=pd.Index(["a1", "a2"], name="ad_id")),
        click_strength=10.0, conversion_strength=10.0,
        audiences=AudienceEffects(grouping="segment", table=table, strength=20.0,
                                  group_of=segment_of))
    ads = np.array(["a1", "a1", "a1", "a2", "a9"])
    users = np.array(["u1", "u2", "u3", "u1", "u1"])  # u3: no segment; a2, a9: no cell
    click, per_click = effects.shifts(ads, users)
    assert click.tolist() == [0.7, -0.4, 0.2, 0.5, 0.0]
    assert per_click.tolist() == [0.3, -0.2, 0.1, 0.0, 0.0]
    click, _ = effects.shifts(ads)  # without users: the creatives' own
    assert click.tolist() == [0.2, 0.2, 0.2, 0.5, 0.0]
    assert "creative x segment cells" in str(effects)
    assert effects.record()["audience_effects"]["cells"] == 2


def test_the_grouping_with_the_most_spread_is_kept() -> None:
    # the creatives appeal by one grouping; a second grouping that cuts across it shows
    # (almost) none of that spread and a third none at all
    parts, creatives, truth = _logs(0.4)
    weaker, _, _ = _logs(0.2, seed=3)
    flat, _, _ = _logs(0.0, seed=4)
    users = pd.Series(["s0"], index=pd.Index(["u1"], name="user_id"))
    alone = _fit(weaker, creatives)
    assert alone is not None  # a real spread of its own, but less
    effects = fit_audience_effects({"segment": weaker, "age_band": parts, "gender": flat},
                                   creatives, 0.5, dict.fromkeys(("segment", "age_band",
                                                                  "gender"), users))
    assert effects is not None and effects.grouping == "age_band"
    assert effects.strength < alone.strength


def test_candidate_groupings_are_the_segments_and_the_users_demographics() -> None:
    con = duckdb.connect()
    con.execute("create table stg_users as select * from (values ('u1', '18-24', 'f', NULL), "
                "('u2', '25-34', 'f', NULL), ('u3', '18-24', 'f', NULL)) "
                "t(user_id, age_band, gender, city_tier)")
    aud = pd.DataFrame({"user_id": ["u1", "u2", "u2", "u3", "u3"],
                        "segment": ["s1", "s1", "s2", "s2", "s2"]})
    groupings = audience_groupings(con, aud)
    # a user in two segments has none; a column with one value (or none) is no grouping
    assert sorted(groupings) == ["age_band", "segment"]
    assert groupings["segment"].to_dict() == {"u1": "s1", "u3": "s2"}
    assert groupings["age_band"].to_dict() == {"u1": "18-24", "u2": "25-34", "u3": "18-24"}
    assert sorted(audience_groupings(duckdb.connect(), aud)) == ["segment"]
