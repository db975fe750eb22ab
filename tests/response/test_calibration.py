from __future__ import annotations

import numpy as np
import pytest

from adopt.exceptions import InputError, NotFittedError
from adopt.response.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    choose_method,
    fit_calibrator,
    load_calibrator,
    pool_adjacent_violators,
)
from adopt.response.metrics import expected_calibration_error, log_loss


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels from true rates, and over-confident, shifted scores of them."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-2.5, 1.0, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 1 / (1 + np.exp(-(2.0 * z + 1.5))), y


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_lowers_ece_on_held_out_rows(method):
    p_valid, y_valid = _miscalibrated(40_000, seed=0)
    p_test, y_test = _miscalibrated(40_000, seed=1)
    cal = fit_calibrator(p_valid, y_valid, method)
    before = expected_calibration_error(y_test, p_test)
    after = expected_calibration_error(y_test, cal.predict(p_test))
    assert before > 0.03
    assert after < 0.01
    assert log_loss(y_test, cal.predict(p_test)) < log_loss(y_test, p_test)


def test_platt_recovers_the_known_distortion():
    p, y = _miscalibrated(100_000, seed=2)
    cal = PlattCalibrator(l2=0.0).fit(p, y)
    # scores are sigmoid(2 z + 1.5), truth sigmoid(z): a = 0.5, b = -0.75
    assert cal.a_ == pytest.approx(0.5, abs=0.03)
    assert cal.b_ == pytest.approx(-0.75, abs=0.1)


def test_pool_adjacent_violators_by_hand():
    values, sizes = pool_adjacent_violators(np.array([1.0, 3.0, 2.0, 4.0, 0.0]), np.ones(5))
    # (3, 2) pool to 2.5, (4, 0) to 2, then 2.5 > 2 pools all four to 2.25
    assert values.tolist() == pytest.approx([1.0, 2.25])
    assert sizes.tolist() == [1, 4]


def test_isotonic_output_is_monotone_and_within_clip():
    p, y = _miscalibrated(5000, seed=3)
    cal = IsotonicCalibrator(clip=1e-3).fit(p, y)
    grid = np.linspace(0, 1, 501)
    out = cal.predict(grid)
    assert np.all(np.diff(out) >= 0)
    assert out.min() >= 1e-3 and out.max() <= 1 - 1e-3


@pytest.mark.parametrize("cls", [PlattCalibrator, IsotonicCalibrator])
def test_predict_before_fit_says_to_call_fit(cls):
    with pytest.raises(NotFittedError, match=rf"This {cls.__name__} is not fitted yet; call fit"):
        cls().predict(np.array([0.2]))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_save_and_load_round_trip(tmp_path, method):
    p, y = _miscalibrated(3000, seed=4)
    cal = fit_calibrator(p, y, method)
    cal.save(tmp_path / "cal.json")
    loaded = load_calibrator(tmp_path / "cal.json")
    assert type(loaded) is type(cal)
    assert loaded.get_params() == cal.get_params()
    np.testing.assert_allclose(loaded.predict(p), cal.predict(p))


def test_auto_choice_follows_validation_size():
    assert choose_method(500_000, 5000) == "isotonic"
    assert choose_method(20_000, 300) == "platt"
    p, y = _miscalibrated(2000, seed=5)
    assert isinstance(fit_calibrator(p, y, "auto"), PlattCalibrator)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'method' parameter of fit_calibrator must be one of"):
        fit_calibrator(np.array([0.1, 0.9]), np.array([0, 1]), "beta")
    with pytest.raises(InputError, match="needs both classes"):
        PlattCalibrator().fit(np.array([0.1, 0.9]), np.array([1, 1]))
