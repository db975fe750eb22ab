"""Each placement's conversions per click, as a shrunk factor on the conversion model.

Data flow: the fitted conversion model's p(conversion | click) on every logged click,
with each click's placement and outcome -> `fit_placement_factors` -> a
`PlacementFactors` -> `LightGBMResponse.predict_conversion` multiplies each row's
probability by its placement's factor; the model card and lgbm.json record them.

Why: the conversion target fits on a few hundred to a few thousand clicked rows. Read as
features, the columns that say where a click came from (placement id, format, cpm) gave
conversions per click placement effects of -0.18 to +0.16 on the log scale on generated
worlds whose truth has none (the noise of some 70 conversions a placement, through three
encodings of eight placements), and every curve of a placement carried its error. So the
conversion target does not read them (`adopt.response.lgbm.CLICK_ONLY`) and each
placement's own conversions speak through a Gamma-Poisson effect instead
(`adopt.shrinkage`): O, its logged conversions, against E, the model's expectation on its
logged clicks scaled so that E sums to O over all placements (the factors move placements
against each other; the level is the calibrator's). Where the placements spread no more
than chance every factor is 1; where they do, as when a search ad's clickers buy more
often than a video's, each factor is (O + s) / (E + s) (docs/curves.md, session 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from adopt.shrinkage import prior_strength, shrunk_factors, strength_text


@dataclass(frozen=True)
class PlacementFactors:
    """Per placement, the factor on the conversion model's p(conversion | click).

    Attributes
    ----------
    table : pandas.DataFrame
        Index placement_id; columns clicks, conversions, expected (the model's, scaled to
        the conversions' total) and factor.
    strength : float
        The Gamma prior's strength in pseudo-conversions (inf: no spread beyond chance,
        every factor 1).
    """

    table: pd.DataFrame
    strength: float

    def apply(self, p: np.ndarray, placement_ids: pd.Series) -> np.ndarray:
        """``p`` times each row's placement factor (1 for a placement the logs lack)."""
        # the curves stage scores millions of rows of a few placements: map the distinct ones
        codes, distinct = pd.factorize(placement_ids)
        factor = pd.Series(self.table["factor"].to_numpy(float),
                           index=self.table.index.astype(str))
        per_code = np.append(pd.Index(distinct).astype(str).map(factor).fillna(1.0)
                             .to_numpy(float), 1.0)  # code -1 (missing): 1
        return np.clip(np.asarray(p, float) * per_code[codes], 0.0, 1.0)

    def describe(self) -> str:
        """One line for the model card."""
        f = self.table["factor"]
        return (f"conversions per click by placement: each placement's logged conversions "
                f"against the model's, shrunk by {strength_text(self.strength)} "
                f"pseudo-conversions ({len(f)} placements): x{f.min():.2f}-{f.max():.2f}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (see `from_dict`)."""
        return {"strength": None if not np.isfinite(self.strength) else self.strength,
                "placements": self.table.reset_index().to_dict(orient="list")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlacementFactors:
        """Rebuild from `to_dict` output."""
        strength = data["strength"]
        table = pd.DataFrame(data["placements"]).set_index("placement_id")
        return cls(table=table, strength=float("inf") if strength is None else float(strength))


def fit_placement_factors(placement_ids: pd.Series, converted: np.ndarray,
                          expected: np.ndarray) -> PlacementFactors:
    """Each placement's shrunk factor from its logged clicks' outcomes and expectations.

    Parameters
    ----------
    placement_ids : each logged click's placement.
    converted : each click's outcome (1 converted, 0 not).
    expected : the conversion model's p(conversion | click) of each click.
    """
    frame = pd.DataFrame({"placement_id": placement_ids.astype(str).to_numpy(),
                          "clicks": 1, "conversions": np.asarray(converted, float),
                          "expected": np.asarray(expected, float)})
    table = frame.groupby("placement_id", sort=True).sum()
    total = table["expected"].sum()
    if total > 0:
        table["expected"] *= table["conversions"].sum() / total
    strength = prior_strength(table["conversions"], table["expected"])
    table["factor"] = shrunk_factors(table["conversions"], table["expected"], strength)
    return PlacementFactors(table=table, strength=strength)
