from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import NotFittedError
from adopt.response.lgbm import POSITION_STEPS, LightGBMResponse, position_steps
from adopt.response.linear import UNPENALIZED, LinearLogit


def _world(n: int, seed: int = 0, base: float = -2.0
           ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows whose true logit is linear in log(price) and a category effect."""
    rng = np.random.default_rng(seed)
    price = np.exp(rng.normal(3.5, 0.8, n))
    cat = rng.choice(["a", "b", "c"], n)
    noise = rng.normal(size=n)
    logit = base - 0.8 * np.log(price / 30.0) + np.where(cat == "b", 0.7, 0.0)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    x = pd.DataFrame({"price": price, "noise": noise,
                      "category": pd.Categorical(cat, categories=["a", "b", "c"])})
    return x, y, logit


def test_recovers_a_linear_logit_in_log_price_and_category():
    x, y, logit = _world(40_000)
    model = LinearLogit(l2=1.0).fit(x, y)
    fitted = model.decision(x)
    assert np.corrcoef(fitted, logit)[0, 1] > 0.98
    assert (1.0 / (1.0 + np.exp(-fitted))).mean() == pytest.approx(y.mean(), rel=0.02)


def test_a_value_beyond_the_training_range_scores_as_its_edge():
    # the curves stage scores the serving state, where counts sit at or past the top of
    # the training rows: the line must not carry its slope on beyond them
    x, y, _ = _world(20_000)
    model = LinearLogit(l2=1.0).fit(x, y)
    top = np.quantile(x["price"], 0.99)
    far = pd.DataFrame({"price": [top, 100 * top, np.quantile(x["price"], 0.5)],
                        "noise": [0.0, 0.0, 0.0],
                        "category": pd.Categorical(["a"] * 3, categories=["a", "b", "c"])})
    edge, beyond, middle = model.decision(far)
    assert beyond == pytest.approx(edge) and middle > edge + 1.0
    # a model saved before the range was kept scores as it did: the line runs on (here the
    # raw price term outweighs its log and the logit turns positive, p ~ 0.99)
    old = {k: v for k, v in model.to_dict().items() if k not in ("low", "high")}
    assert LinearLogit.from_dict(old).decision(far)[1] > edge + 3.0


def test_missing_and_unseen_values_and_the_round_trip():
    x, y, _ = _world(5_000)
    model = LinearLogit().fit(x, y)
    odd = pd.DataFrame({"price": [np.nan, 30.0], "noise": [0.0, np.nan],
                        "category": pd.Categorical([None, "a"], categories=["a", "b", "c"])})
    out = model.decision(odd)
    assert np.isfinite(out).all()
    again = LinearLogit.from_dict(model.to_dict())
    np.testing.assert_allclose(again.decision(x), model.decision(x))
    assert again.unpenalized == UNPENALIZED
    old = {k: v for k, v in model.to_dict().items() if k != "unpenalized"}
    assert LinearLogit.from_dict(old).unpenalized == ()  # saved when every slope was shrunk
    alone = LinearLogit(unpenalized="price").fit(x, y)  # one name, not its letters
    np.testing.assert_allclose(alone.decision(x), model.decision(x))
    assert alone.to_dict()["unpenalized"] == ["price"]
    with pytest.raises(NotFittedError, match="not fitted"):
        LinearLogit().decision(x)


def _brands(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows and their true conversion probability, which falls with log(price) at -0.5;
    each brand has its own price level (its one-hot moves with the price) and its own
    effect; ~700 conversions expected."""
    rng = np.random.default_rng(seed)
    names = [f"b{i}" for i in range(12)]
    level, effect = rng.normal(3.5, 0.7, 12), rng.normal(0.0, 0.3, 12)
    brand = rng.integers(0, 12, n)
    price = np.exp(level[brand] + rng.normal(0.0, 0.4, n))
    p = 1.0 / (1.0 + np.exp(0.5 * np.log(price / 50.0) - effect[brand] + 3.0))
    return pd.DataFrame({"price": price, "noise": rng.normal(size=n),
                         "brand": pd.Categorical(np.array(names)[brand], categories=names)}), p


def test_the_price_slope_is_not_shared_out_to_the_brands():
    # Fitted to the true probabilities (the log loss takes them as soft labels: no luck of
    # the draws), a ridge that shrinks the price's slope like the rest gives part of it to
    # the brands' one-hots, and a brand's cheaper and dearer items read more alike: -0.43
    # of the truth's -0.5 per log price over five worlds; unshrunk, -0.50.
    slopes = {(): [], ("price",): []}
    for seed in range(5):
        x, p = _brands(12_000, seed)
        probe = pd.DataFrame({"price": [25.0, 50.0], "noise": 0.0,
                              "brand": pd.Categorical(["b0"] * 2,
                                                      categories=x["brand"].cat.categories)})
        for unpenalized, out in slopes.items():
            low, high = LinearLogit(unpenalized=unpenalized).fit(x, p).decision(probe)
            out.append((high - low) / np.log(2.0))
    free, shrunk = np.array(slopes[("price",)]), np.array(slopes[()])
    assert "price" in LinearLogit().unpenalized  # the default
    assert free.mean() == pytest.approx(-0.5, abs=0.03)
    assert shrunk.mean() > -0.45 and (free < shrunk).all()


def _interests(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows and their true conversion probability, which rises with the user's affinity
    to the item's category at 2 per unit; each age band leans to some categories (the
    band's and category's one-hots move with the affinity); ~1,100 conversions expected."""
    rng = np.random.default_rng(seed)
    bands, cats = [f"a{i}" for i in range(6)], [f"c{i}" for i in range(8)]
    band, cat = rng.integers(0, 6, n), rng.integers(0, 8, n)
    lean = rng.uniform(0.05, 0.6, (6, 8))
    affinity = np.clip(lean[band, cat] + rng.normal(0.0, 0.08, n), 0.0, 1.0)
    p = 1.0 / (1.0 + np.exp(3.0 - 2.0 * affinity - rng.normal(0.0, 0.2, 8)[cat]))
    return pd.DataFrame({"user_category_affinity": affinity, "noise": rng.normal(size=n),
                         "age_band": pd.Categorical(np.array(bands)[band], categories=bands),
                         "category": pd.Categorical(np.array(cats)[cat], categories=cats)}), p


def test_the_affinity_slope_is_not_shared_out_to_the_demographics():
    # As for the price: shrunk, the affinity's slope goes in part to the age bands' and
    # categories' one-hots, and within a band and category the users who care more read
    # nearer the rest (1.86 of the truth's 2 over five worlds); unshrunk, 1.98.
    slopes = {("price",): [], ("price", "user_category_affinity"): []}
    for seed in range(5):
        x, p = _interests(12_000, seed)
        probe = pd.DataFrame({"user_category_affinity": [0.2, 0.5], "noise": 0.0,
                              "age_band": pd.Categorical(["a0"] * 2,
                                                         categories=x["age_band"].cat.categories),
                              "category": pd.Categorical(["c0"] * 2,
                                                         categories=x["category"].cat.categories)})
        for unpenalized, out in slopes.items():
            low, high = LinearLogit(unpenalized=unpenalized).fit(x, p).decision(probe)
            out.append((high - low) / 0.3)
    shrunk = np.array(slopes[("price",)])
    free = np.array(slopes[("price", "user_category_affinity")])
    assert LinearLogit().unpenalized == ("price", "user_category_affinity")  # the default
    assert free.mean() == pytest.approx(2.0, abs=0.05)
    assert shrunk.mean() < 1.9 and (free > shrunk).all()


def test_a_booster_on_few_positives_starts_from_the_line_and_tracks_the_truth_better():
    # ~400 positives: shallow trees alone flatten the price trend
    x, y, logit = _world(6_000, seed=1, base=-2.5)
    rows = x.assign(clicked=y, ts=pd.Timestamp("2026-01-01")
                    + pd.to_timedelta(np.arange(len(y)) * 60, unit="s"))
    train, valid = rows.iloc[:5_000], rows.iloc[5_000:]
    fits = {flag: LightGBMResponse(linear_base=flag, params={"num_threads": 1},
                                   conversion=False).fit(train, valid)
            for flag in (True, False)}
    assert fits[True].stopping_["click"]["linear_base"] is True
    assert fits[False].stopping_["click"]["linear_base"] is False
    test_x, _, test_logit = _world(5_000, seed=2, base=-2.5)
    corr = {flag: np.corrcoef(np.log(m.predict_click(test_x)), test_logit)[0, 1]
            for flag, m in fits.items()}
    assert corr[True] > corr[False]
    assert corr[True] > 0.9


def test_the_line_carries_a_trend_to_the_users_the_logging_policy_rarely_showed():
    # the logs show the ad mostly to interested users (x > 0.6); a plan buys a segment's
    # users at every x. With thousands of positives (no thin target) the trees alone read
    # the few lower-x rows as noise and stay near the level at the edge (+30% at x = 0.4
    # here); the line under them carries the trend on. Platt: the calibrator of a valid
    # split with under a thousand positives, as on the generated worlds.
    rng = np.random.default_rng(5)
    n = 60_000
    shown = np.where(rng.random(n) < 0.97, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.6, n))
    x = pd.DataFrame({"interest": shown, "noise": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-4.0 + 3.0 * shown)))).astype(int)
    rows = x.assign(clicked=y, ts=pd.Timestamp("2026-01-01")
                    + pd.to_timedelta(np.arange(n) * 60, unit="s"))
    train, valid = rows.iloc[:50_000], rows.iloc[50_000:]
    fits = {flag: LightGBMResponse(linear_base=flag, params={"num_threads": 1},
                                   calibration="platt", conversion=False).fit(train, valid)
            for flag in (True, False)}
    assert LightGBMResponse().linear_base is True  # the default
    assert y[:50_000].sum() > 2_000
    low = pd.DataFrame({"interest": np.linspace(0.2, 0.6, 500), "noise": 0.0})
    truth = 1 / (1 + np.exp(-(-4.0 + 3.0 * low["interest"].to_numpy())))
    error = {flag: abs(np.log(m.predict_click(low).mean() / truth.mean()))
             for flag, m in fits.items()}
    assert error[True] < 0.5 * error[False]


def _repeated_runs(pairs: int, seed: int) -> pd.DataFrame:
    """Logged runs of a campaign to users, each impression k of its run clicked with
    p(interest) x 0.72^(k - 1); the serving policy runs longer to the more interested users,
    and the logs show that interest only through a noisy reading (``seen``)."""
    rng = np.random.default_rng(seed)
    interest = rng.normal(size=pairs)
    length = np.minimum(rng.geometric(1 / (1 + 6 * np.exp(interest))), 80)
    pair = np.repeat(np.arange(pairs), length)
    k = np.concatenate([np.arange(1, n + 1) for n in length])
    p = 1 / (1 + np.exp(-(-3.0 + 0.9 * interest[pair]))) * 0.72 ** (k - 1)
    rows = pd.DataFrame({"seen": rng.normal(size=pairs)[pair] + interest[pair],
                         "k_campaign": k, "k_ad": k,
                         "clicked": (rng.random(len(k)) < p).astype(int)})
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    return rows.assign(ts=pd.Timestamp("2026-01-01")
                       + pd.to_timedelta(np.arange(len(rows)) * 10, unit="s"))


def test_the_click_base_holds_each_positions_logged_clicks():
    # A line in k and log k, bent by the long runs of the interested users, put k = 1 at
    # x1.10 of its logged clicks and k = 3-4 at x0.84 (seeds 0-3). Trees on top mend most of
    # it here; on the generated worlds, 51 rounds left k = 1 at x1.10 in sample, and the
    # curves read k = 1. With a step per position the line holds each one (within 5%).
    rows = _repeated_runs(30_000, seed=0)
    cut = int(len(rows) * 0.9)
    train = rows.iloc[:cut]
    base = LightGBMResponse(params={"num_threads": 1}, conversion=False, num_boost_round=1,
                            calibration="none").fit(train, rows.iloc[cut:])
    by_k = train.assign(p=base.predict_click(train),
                        position=np.minimum(train["k_campaign"], 5)).groupby("position")
    ratio = by_k["p"].sum() / by_k["clicked"].sum()
    assert np.abs(ratio - 1).max() < 0.05, ratio.round(3).to_dict()


def test_positions_read_as_steps_up_to_the_last_one():
    steps = position_steps(pd.Series([1, 2, 9, 10, 57, np.nan, 0]))
    assert list(steps.astype(object)) == ["1", "2", "9", "10+", "10+", np.nan, np.nan]
    assert list(steps.categories) == [*map(str, range(1, POSITION_STEPS)), f"{POSITION_STEPS}+"]
