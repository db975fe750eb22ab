from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.response.sampling import correct_downsampled, downsample_mask, downsample_negatives


def test_correction_recovers_a_known_rate():
    rng = np.random.default_rng(0)
    true_rate = 0.02
    y = (rng.random(400_000) < true_rate).astype(int)
    rate = 0.1
    kept = y[downsample_mask(y, rate, seed=1)]
    q = kept.mean()  # what a perfect model of the downsampled data predicts
    assert q > 0.1  # downsampling inflated the rate five-fold or more
    assert correct_downsampled(q, rate) == pytest.approx(true_rate, rel=0.05)


def test_correction_recovers_rates_per_stratum():
    rng = np.random.default_rng(2)
    truth = np.array([0.005, 0.03, 0.2])
    strata = rng.integers(3, size=600_000)
    y = (rng.random(strata.size) < truth[strata]).astype(int)
    keep = downsample_mask(y, 0.05, seed=3)
    q = np.array([y[keep & (strata == s)].mean() for s in range(3)])
    np.testing.assert_allclose(correct_downsampled(q, 0.05), truth, rtol=0.08)


def test_correction_is_identity_at_rate_one_and_exact_on_odds():
    q = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(correct_downsampled(q, 1.0), q)
    p = correct_downsampled(np.array([0.5]), 0.25)
    # odds shrink by the rate: 1 * 0.25 -> p = 0.2
    assert p[0] == pytest.approx(0.2)


def test_downsample_keeps_every_positive():
    df = pd.DataFrame({"clicked": np.r_[np.ones(50), np.zeros(5000)].astype(int)})
    out = downsample_negatives(df, "clicked", 0.2, seed=4)
    assert out["clicked"].sum() == 50
    assert (out["clicked"] == 0).sum() == pytest.approx(1000, rel=0.1)


@pytest.mark.parametrize("rate", [0.0, -0.5, 1.5])
def test_rate_outside_unit_interval_is_refused(rate):
    with pytest.raises(ValueError, match=r"'rate' parameter must lie in \(0, 1\]"):
        correct_downsampled(np.array([0.1]), rate)
