"""The serving state (sql/serving/) against training_examples on a small generated world.

Each feature is defined once: a counterfactual row of `PairState` at the time
of a logged impression must equal that impression's row of training_examples
in every column the response models read.
"""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves import PairState
from adopt.curves.state import SERVING
from adopt.response.features import NOT_FEATURES
from adopt.warehouse import query_model


@pytest.fixture(scope="module")
def examples(small_ws) -> pd.DataFrame:
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select * from training_examples order by impression_key").df()


def _same(got: object, want: object) -> bool:
    if pd.isna(want):
        return bool(pd.isna(got))
    if isinstance(want, str):
        return got == want
    return float(got) == float(want)


def test_a_state_row_equals_the_training_row_of_the_same_impression(small_ws, examples) -> None:
    # k_ad = k_campaign in a counterfactual row: pick impressions where the log agrees,
    # on every day (the first has no ad history), with and without earlier clicks.
    rows = examples.loc[examples["k_ad"] == examples["k_campaign"]]
    days = rows["ts"].dt.normalize()
    rng = np.random.default_rng(7)
    picked = [rng.choice(np.flatnonzero(days == day)) for day in sorted(days.unique())]
    picked += list(rng.choice(np.flatnonzero(rows["user_seconds_since_last_click"].notna()), 4))
    features = [c for c in examples.columns if c not in NOT_FEATURES]
    assert {"user_ctr_smoothed", "ad_age_days", "user_category_affinity", "age_band"} <= set(
        features)
    for i in picked:
        want = rows.iloc[i]
        state = PairState.load(small_ws, want["ts"].to_pydatetime())
        slot = pd.DataFrame({"hour": [float(want["hour"])],
                             "day_of_week": [float(want["day_of_week"])], "share": [1.0]})
        state = dataclasses.replace(state, slots=slot)
        got = state.rows(state.user_index([want["user_id"]]), state.ad_index([want["ad_id"]]),
                         state.placement_index([want["placement_id"]]),
                         np.array([want["k_ad"]])).iloc[0]
        wrong = {c: (got[c], want[c]) for c in features if not _same(got[c], want[c])}
        assert not wrong, f"impression {want['impression_key']}: {wrong}"


def test_the_state_is_taken_at_the_midnight_after_the_last_event(small_ws) -> None:
    # the plan period's first daily snapshot: every logged day is in the ad and population
    # history, every logged impression in the users' history
    state = PairState.load(small_ws)
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        last, impressions, clicks = con.execute(
            "select max(ts), count(*) filter (where event = 'impression'), "
            "count(*) filter (where event = 'click') from events").fetchone()
        m = con.execute("select prior_strength from build_params").fetchone()[0]
    assert state.as_of == pd.Timestamp(last).floor("D") + pd.Timedelta(days=1)
    assert state.profiles_as_of == last
    ads = state.ads
    assert ads["ad_prior_impressions"].sum() == impressions
    assert ads["ad_prior_clicks"].sum() == clicks
    assert state.ad_placement["impressions"].sum() == impressions
    assert state.users["user_prior_impressions"].sum() == impressions
    # each smoothed CTR shrinks toward the population CTR: all clicks / all impressions
    prior = ((ads["ad_ctr_smoothed"] * (ads["ad_prior_impressions"] + m) - ads["ad_prior_clicks"])
             / m)
    np.testing.assert_allclose(prior, clicks / impressions, rtol=1e-9)


def test_the_built_tables_equal_the_models_run_at_the_serving_time(small_ws) -> None:
    with duckdb.connect(str(small_ws / "warehouse.duckdb"), read_only=True) as con:
        cursor = con.execute("select * from build_params")
        params = dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))
        for name, order in SERVING.items():
            built = con.execute(f"select * from {name} order by {order}").df()
            again = query_model(con, name, params).sort_values(order.split(", "))
            pd.testing.assert_frame_equal(again.reset_index(drop=True), built, obj=name)


def test_counterfactual_impressions_spread_over_the_logged_hours_and_days(small_ws,
                                                                          examples) -> None:
    # a plan's impressions fall on every hour and day the way the logged ones did, so a
    # sample of users does too: each user keeps one slot, the slots follow the logged shares
    state = PairState.load(small_ws)
    assert state.slots["share"].sum() == pytest.approx(1.0)
    users = np.arange(len(state.users))
    rows = state.rows(users, np.zeros(len(users), dtype=int), np.zeros(len(users), dtype=int),
                      np.ones(len(users), dtype=int))
    again = state.rows(users, np.ones(len(users), dtype=int), np.ones(len(users), dtype=int),
                       np.full(len(users), 3))
    assert (rows[["hour", "day_of_week"]].to_numpy() == again[["hour", "day_of_week"]]
            .to_numpy()).all()
    logged = examples.groupby("day_of_week").size() / len(examples)
    drawn = rows.groupby("day_of_week").size() / len(rows)
    assert set(drawn.index) <= set(logged.index.astype(float))
    assert np.abs(drawn.reindex(logged.index.astype(float), fill_value=0).to_numpy()
                  - logged.to_numpy()).max() < 0.05
    assert rows["hour"].nunique() > 12
