"""The fall of the click rate with k, fitted within user x campaign pairs of the logs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.curves.frequency import FrequencyDecay, fit_frequency_decay, fit_within_pairs
from adopt.curves.grid import expand_k
from adopt.synth import generate_world, load_truth

DEPTH, SCALE = 1.3, 3.0
PLACEMENT_EFFECT = {"p1": 0.0, "p2": 0.6, "p3": -0.4}
KS = np.arange(1, 9)


def confounded_logs(pairs: int, seed: int = 0) -> pd.DataFrame:
    """Impressions where the pairs a policy shows most are the most interested ones.

    Each pair's click logit is its own interest plus a placement effect minus
    the known fall with k; the number of impressions grows with the interest.
    """
    rng = np.random.default_rng(seed)
    interest = rng.normal(0.0, 1.0, pairs)
    shown = 1 + rng.poisson(2.0 * np.exp(0.8 * interest))
    pair = np.repeat(np.arange(pairs), shown)
    k = np.concatenate([np.arange(1, n + 1) for n in shown])
    placement = rng.choice(list(PLACEMENT_EFFECT), len(pair))
    effect = pd.Series(PLACEMENT_EFFECT)[placement].to_numpy()
    logit = -3.0 + 1.5 * interest[pair] + effect - DEPTH * (1 - np.exp(-(k - 1) / SCALE))
    clicked = rng.random(len(pair)) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"user_id": [f"u{p}" for p in pair], "campaign_id": "c1",
                         "placement_id": placement, "k_campaign": k, "clicked": clicked})


def workspace_with(logs: pd.DataFrame, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.register("logs", logs)
        con.execute("create table training_examples as select * from logs")
    return root


def one_click_pairs(pen: np.ndarray, sizes: np.ndarray, rng: np.random.Generator
                    ) -> tuple[np.ndarray, ...]:
    """Arrays of pairs with one click, drawn straight from the conditional logit.

    ``pen[k]`` is the click-logit penalty at position k (``pen[1] = 0``); pair i
    has ``sizes[i]`` impressions on one placement.
    """
    pair = np.repeat(np.arange(len(sizes)), sizes)
    k = np.concatenate([np.arange(1, n + 1) for n in sizes])
    weight = np.exp(-pen[k])
    share = weight / np.bincount(pair, weights=weight)[pair]
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    total = np.cumsum(share)
    within = total - np.repeat(np.r_[0.0, total[starts[1:] - 1]], sizes)  # cumulative share
    before = np.add.reduceat((within < rng.random(len(sizes))[pair]).astype(int), starts)
    clicked = np.zeros(len(k), dtype=bool)
    clicked[starts + np.minimum(before, sizes - 1)] = True
    return pair, np.zeros(len(k), dtype=np.int64), k, clicked


def test_the_fit_recovers_a_fall_that_comparing_users_understates(tmp_path: Path) -> None:
    logs = confounded_logs(20_000)
    by_k = logs.groupby("k_campaign")["clicked"].mean()
    true_ratio = np.exp(-DEPTH * (1 - np.exp(-2 / SCALE)))
    assert by_k[3] / by_k[1] > 1.5 * true_ratio  # the pooled logs hide most of the fall
    decay = fit_frequency_decay(workspace_with(logs, tmp_path / "ws"))
    assert decay is not None and decay.pairs > 1000 and decay.observed_k >= 8
    truth = DEPTH * (1 - np.exp(-(KS - 1) / SCALE))
    assert np.abs(decay.penalty(KS) - truth)[:5].max() < 0.15
    assert decay.penalties[0] == 0.0 and (np.diff(decay.penalties) >= 0).all()
    assert "one-click user x campaign pairs" in str(decay) and "extrapolated" in str(decay)


def test_the_fit_is_the_same_bits_whatever_order_the_logs_are_stored_in(tmp_path: Path
                                                                       ) -> None:
    # a pair's rows are summed in the order the query returns them: that order must not
    # be the table's (nor DuckDB's threads')
    logs = confounded_logs(3_000)
    shuffled = logs.sample(frac=1.0, random_state=1).reset_index(drop=True)
    first = fit_frequency_decay(workspace_with(logs, tmp_path / "a"))
    second = fit_frequency_decay(workspace_with(shuffled, tmp_path / "b"))
    assert first is not None and first == second


def test_too_few_pairs_or_no_logs_leave_the_fall_to_the_model(tmp_path: Path) -> None:
    assert fit_frequency_decay(workspace_with(confounded_logs(300), tmp_path / "few")) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    duckdb.connect(str(empty / "warehouse.duckdb")).close()
    assert fit_frequency_decay(empty) is None


def test_the_penalty_never_falls_even_where_the_logs_say_it_does() -> None:
    pen = np.r_[np.nan, 0.0, 0.5, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9]  # by k; a dip at k = 3
    pair, placement, k, clicked = one_click_pairs(pen, np.full(3_000, 8), np.random.default_rng(1))
    decay = fit_within_pairs(pair, placement, k, clicked)
    assert decay is not None and decay.observed_k == 8
    assert decay.penalties[0] == 0.0 and (np.diff(decay.penalties) >= 0).all()
    # the dip is filled in: k = 3 and 4 sit together, between k = 2 and k = 5
    assert decay.penalties[2] == pytest.approx(decay.penalties[1], abs=0.05)
    assert decay.penalties[1] < decay.penalties[4] - 0.3


def test_thin_positions_follow_the_trend_of_the_well_measured_ones() -> None:
    """True penalty 0.3 x (k - 1); 2,000 pairs of 5 impressions, 60 of 12: the ridge pulls
    the increments at k = 6..12 toward the trend, and leaves k <= 5 alone."""
    pen = np.r_[np.nan, 0.3 * np.arange(16)]  # by k
    sizes = np.r_[np.full(2_000, 5), np.full(60, 12)]
    errors: dict[str, list[float]] = {"free": [], "ridge": []}
    for seed in range(4):
        pair, placement, k, clicked = one_click_pairs(pen, sizes, np.random.default_rng(seed))
        free = fit_within_pairs(pair, placement, k, clicked, ridge=0.0, min_support=50)
        shrunk = fit_within_pairs(pair, placement, k, clicked, min_support=50)
        assert free is not None and shrunk is not None and shrunk.observed_k == 12
        assert np.allclose(shrunk.penalties[:5], free.penalties[:5], atol=0.05)
        for name, decay in (("free", free), ("ridge", shrunk)):
            errors[name].append(np.abs(np.diff(decay.penalties)[5:] - 0.3).mean())
    assert np.mean(errors["ridge"]) < 0.6 * np.mean(errors["free"]), errors


def test_positions_past_the_logs_carry_the_last_increment() -> None:
    decay = FrequencyDecay(penalties=(0.0, 0.4, 0.7, 0.9), increment_beyond=0.2, observed_k=4,
                           pairs=500, impressions=2000)
    assert np.allclose(decay.penalty(np.arange(1, 8)), [0.0, 0.4, 0.7, 0.9, 1.1, 1.3, 1.5])
    assert "+0.20 per impression past k = 4 (extrapolated)" in str(decay)


def test_expand_k_lowers_clicks_by_the_penalty_and_keeps_value_per_click() -> None:
    decay = FrequencyDecay(penalties=(0.0, 0.4, 0.7, 0.9), increment_beyond=0.1, observed_k=4,
                           pairs=500, impressions=2000)
    first = np.array([[[0.02, 0.002, 0.1]], [[0.0, 0.0, 0.0]]])  # users x placements x 3
    ks = np.arange(1, 6)
    out = expand_k(first, decay, ks)
    assert out.shape == (2, 1, 5, 3)
    assert np.allclose(out[:, :, 0, :], first)
    logit = np.log(0.02 / 0.98) - decay.penalty(ks)
    assert np.allclose(out[0, 0, :, 0], 1 / (1 + np.exp(-logit)))
    assert np.allclose(out[0, 0, :, 1] / out[0, 0, :, 0], 0.1)
    assert np.allclose(out[0, 0, :, 2] / out[0, 0, :, 0], 5.0)
    assert (np.diff(out[0, 0, :, 0]) < 0).all()
    assert (out[1] == 0).all()


# The logs of a generated world, k recounted from the events (the warehouse does the same,
# see test_the_warehouse_reads_the_same_pairs): a few seconds instead of the full ingest.
_LOGS_SQL = """
with events as (select * from read_parquet($events)),
clicks as (select distinct impression_id from events where event = 'click')
select events.user_id, ads.campaign_id, events.placement_id,
    clicks.impression_id is not null as clicked,
    row_number() over (partition by events.user_id, ads.campaign_id
                       order by events.ts, events.impression_id) as k_campaign,
from events
join read_parquet($ads) as ads using (ad_id)
left join clicks using (impression_id)
where events.event = 'impression'
"""


def world_workspace(root: Path, fatigue: str) -> Path:
    """The demo-sized world (6,000 users, 120 ads, 56 days, seed 0; 4,000-5,000 one-click
    pairs) and a workspace whose ``training_examples`` holds its impressions, k and clicks."""
    generate_world(root / "world", users=6_000, ads=120, days=56, seed=0, fatigue=fatigue,
                   show_progress=False)
    ws = root / "ws"
    ws.mkdir()
    with duckdb.connect(str(ws / "warehouse.duckdb")) as con:
        con.execute(f"create table training_examples as {_LOGS_SQL}",
                    {"events": str(root / "world" / "events" / "*.parquet"),
                     "ads": str(root / "world" / "ads.parquet")})
    return ws


def true_penalty(world: Path, ks: np.ndarray) -> np.ndarray:
    """The world's click-logit penalty at ``ks``. For the geometric form it depends on the
    click rate: taken at the mean first-impression rate of the logged impressions."""
    truth = load_truth(world)
    params = truth.params
    if params.fatigue_form == "logit":
        return params.fatigue_max * (1 - np.exp(-(ks - 1) / params.fatigue_tau))
    events = pd.read_parquet(world / "events")
    shown = events[events["event"] == "impression"]
    p1 = truth.expected(shown["user_id"], shown["ad_id"], shown["placement_id"], 1)
    rate = float(p1["p_click"].mean())
    pk = rate * params.fatigue_rate ** (ks - 1)
    return np.log(rate / (1 - rate)) - np.log(pk / (1 - pk))


@pytest.mark.parametrize("fatigue", ["logit", "geometric"])
def test_the_fit_recovers_the_fall_of_a_generated_world(tmp_path: Path, fatigue: str) -> None:
    """Within 0.15 on the click logit for k <= 5: seeds 0-3 of this world, either form,
    missed the truth by 0.05 typically and 0.11 at most there (about 3 standard errors)."""
    ws = world_workspace(tmp_path, fatigue)
    decay = fit_frequency_decay(ws)
    assert decay is not None and decay.pairs > 3_500 and decay.observed_k >= 10
    truth = true_penalty(tmp_path / "world", KS)
    if fatigue == "geometric":  # near the small-p limit -(k - 1) log r, and not saturating
        assert np.allclose(truth, -(KS - 1) * np.log(0.72), atol=0.05)
    assert np.abs(decay.penalty(KS) - truth)[:5].max() < 0.15
    assert np.abs(decay.penalty(KS) - truth).max() < 0.3


@pytest.mark.slow
def test_the_warehouse_reads_the_same_pairs(tmp_path: Path) -> None:
    """ingest + build_profiles number k and attribute clicks as the recount above does."""
    from adopt.ingest import ingest
    from adopt.profiles import build_profiles

    ws = world_workspace(tmp_path, "geometric")
    ingest(tmp_path / "world", tmp_path / "built")
    build_profiles(tmp_path / "built")
    recounted, built = fit_frequency_decay(ws), fit_frequency_decay(tmp_path / "built")
    assert recounted is not None and built is not None
    assert (built.pairs, built.impressions, built.observed_k) == (
        recounted.pairs, recounted.impressions, recounted.observed_k)
    # the same likelihood; the optimizer stops a little apart only where it is flat (far k)
    assert np.allclose(built.penalty(np.arange(1, 11)), recounted.penalty(np.arange(1, 11)),
                       atol=1e-3)
