"""The true response function of the synthetic world, and its coefficients.

Pure numpy functions used both to draw the logged clicks and conversions
(`adopt.synth.simulate`) and to score any plan against the oracle
(`adopt.synth.truth`)::

    base = b0 + b_match * interest(user, subcategory(ad)) + quality(ad, user)
           + placement_effect + demo_effect(user)
    quality(ad, user) = quality(ad) + appeal(ad, age band(user))      (appeal 0 by default)
    p_click = sigmoid(base - fatigue(k))                  fatigue_form "logit" (the default)
    fatigue(k) = fatigue_max * (1 - exp(-(k - 1) / fatigue_tau))      (fatigue(1) = 0)
    p_click = sigmoid(base) * fatigue_rate ** (k - 1)     fatigue_form "geometric"
    p_conv|click = sigmoid(c0 + c_match * interest + c_quality * quality(ad, user)
                           - c_price * log(price / ref_price) + c_placement * placement_effect)
    order value = price * (1 + basket_extra)     (revenue = price * (1 + Poisson(basket_extra)))

k is the position of the impression in the user x campaign sequence (1 = first).
`click_probability` is the one place the fatigue form is applied: the simulator
and the truth both call it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from adopt.exceptions import ParameterError

FATIGUE_FORMS = ("logit", "geometric")


@dataclass(frozen=True)
class ResponseParams:
    """Coefficients of the true response function (saved in truth/params.json)."""

    b0: float = -4.8
    b_match: float = 2.6
    fatigue_max: float = 1.3
    fatigue_tau: float = 3.0
    fatigue_form: str = "logit"
    fatigue_rate: float = 0.72
    c0: float = -3.6
    c_match: float = 1.6
    c_quality: float = 0.8
    c_placement: float = 0.0
    c_price: float = 0.5
    campaign_quality: float = 0.0  # sd of a quality every creative of a campaign shares
    creative_audience: float = 0.0  # sd of each creative's appeal to each age band
    ref_price: float = 50.0
    basket_extra: float = 0.25
    age_effect: tuple[float, ...] = (0.15, 0.1, 0.0, -0.1, -0.2)
    gender_effect: tuple[float, ...] = (0.05, -0.05, 0.0)
    tier_effect: tuple[float, ...] = (0.1, 0.0, -0.1)

    def __post_init__(self) -> None:
        if self.fatigue_form not in FATIGUE_FORMS:
            raise ParameterError(
                f"The 'fatigue_form' parameter of ResponseParams must be one of "
                f"{', '.join(map(repr, FATIGUE_FORMS))}. Got {self.fatigue_form!r} instead.")
        if not 0.0 < self.fatigue_rate <= 1.0:
            raise ParameterError(
                "The 'fatigue_rate' parameter of ResponseParams must be in (0, 1]. "
                f"Got {self.fatigue_rate!r} instead.")

    def describe_fatigue(self) -> str:
        """The fatigue formula of this world, in words (truth/params.json's "fatigue")."""
        if self.fatigue_form == "geometric":
            return ("p_click(k) = sigmoid(logit without fatigue) * fatigue_rate ** (k - 1) "
                    f"(fatigue_rate {self.fatigue_rate:g})")
        return ("fatigue(k) = fatigue_max * (1 - exp(-(k - 1) / fatigue_tau)), subtracted from "
                f"the click logit (fatigue_max {self.fatigue_max:g}, fatigue_tau "
                f"{self.fatigue_tau:g})")

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ResponseParams:
        """Inverse of `to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def fatigue(k: np.ndarray | int, params: ResponseParams) -> np.ndarray:
    """Click-logit penalty of the k-th impression of a campaign to a user (0 at k = 1).

    The "logit" form's penalty; `click_probability` applies it (or the
    geometric form) to a click logit.

    Parameters
    ----------
    k : array of int
        Frequency positions, 1-based.
    params : ResponseParams
        `fatigue_max` (the limit as k grows) and `fatigue_tau` (its scale in impressions).
    """
    k = np.asarray(k, dtype=np.float64)
    return params.fatigue_max * (1.0 - np.exp(-(k - 1.0) / params.fatigue_tau))


def click_probability(logit: np.ndarray, k: np.ndarray | int,
                      params: ResponseParams) -> np.ndarray:
    """True click probability from the click logit without fatigue and the position k.

    Parameters
    ----------
    logit : array
        Click logit of the impression before fatigue (user x ad + placement).
    k : array of int
        Frequency positions, 1-based (broadcast with `logit`).
    params : ResponseParams
        ``fatigue_form`` "logit": ``sigmoid(logit - fatigue(k))``; "geometric":
        ``sigmoid(logit) * fatigue_rate ** (k - 1)``.
    """
    if params.fatigue_form == "geometric":
        steps = np.asarray(k, dtype=np.float64) - 1.0
        return sigmoid(logit) * params.fatigue_rate ** steps
    return sigmoid(logit - fatigue(k, params))


def click_logit_base(
    interest: np.ndarray,
    quality: np.ndarray,
    demo_effect: np.ndarray,
    params: ResponseParams,
) -> np.ndarray:
    """The user x ad part of the click logit (everything but placement and fatigue)."""
    return params.b0 + params.b_match * interest + quality + demo_effect


def p_click(
    interest: np.ndarray,
    quality: np.ndarray,
    demo_effect: np.ndarray,
    placement_effect: np.ndarray,
    k: np.ndarray,
    params: ResponseParams,
) -> np.ndarray:
    """True click probability of one impression (arrays broadcast together)."""
    base = click_logit_base(interest, quality, demo_effect, params)
    return click_probability(base + placement_effect, k, params)


def p_conversion(
    interest: np.ndarray,
    quality: np.ndarray,
    price: np.ndarray,
    params: ResponseParams,
    placement_effect: np.ndarray | float = 0.0,
) -> np.ndarray:
    """True conversion probability given a click.

    Dearer items convert less, across and within subcategories. ``placement_effect`` is
    the click-logit effect of the placement the click came from; it moves conversions
    per click by ``c_placement`` times itself (0 by default: the clicker buys alike).
    """
    logit = (
        params.c0
        + params.c_match * interest
        + params.c_quality * quality
        - params.c_price * np.log(price / params.ref_price)
        + params.c_placement * np.asarray(placement_effect, dtype=np.float64)
    )
    return sigmoid(logit)


def demo_effect(
    age: np.ndarray, gender: np.ndarray, tier: np.ndarray, params: ResponseParams
) -> np.ndarray:
    """Click-logit term of each user's demographics (codes index the vocab tuples)."""
    return (
        np.asarray(params.age_effect)[age]
        + np.asarray(params.gender_effect)[gender]
        + np.asarray(params.tier_effect)[tier]
    )
