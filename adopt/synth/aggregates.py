"""Synthetic aggregate exports with known truth, for the aggregates path.

Data flow: `generate_aggregates` -> an export shaped like a per-ad campaign
report (campaign_id, age, gender, interest, segment = age/gender/interest,
placement_id, [period], spend, impressions, clicks, conversions, revenue) and
the `AggregateTruth` that drew it -> `adopt.optimize.fit_curves` /
`adopt.curves.curves_from_aggregates`, whose forecasts the truth judges.

Each cell (campaign x segment x placement) runs 1 to `max_units` units (ads)
with log-normal spends (some at zero spend), or, with ``periods``, one unit
per period at varying spend. A unit with I impressions yields in expectation

    conversions = base + A * g(I / S),  clicks = C * g(I / S),
    revenue = value * conversions,

with the functional form g one of ``exp`` (1 - exp(-x)), ``hill``
(x / (1 + x)), ``log`` (log(1 + x)) or ``power`` (x ** 0.7); outcomes are
drawn Poisson (or exact with ``noise=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from adopt.exceptions import ParameterError

FORMS = {
    "exp": lambda x: -np.expm1(-x),
    "hill": lambda x: x / (1.0 + x),
    "log": np.log1p,
    "power": lambda x: np.power(x, 0.7),
}
AGES = ("18-24", "25-34", "35-44", "45-54")
GENDERS = ("F", "M")


@dataclass(frozen=True)
class AggregateTruth:
    """The response that drew an export: per cell the parameters of every unit.

    Attributes
    ----------
    cells : DataFrame
        campaign_id, segment, placement_id, base, A, C, S, value, cpm.
    form : str
        The functional form g.
    """

    cells: pd.DataFrame
    form: str

    def expected(self, cell_rows: pd.DataFrame, impressions: np.ndarray) -> pd.DataFrame:
        """Expected clicks, conversions, revenue of units with `impressions`, row by row.

        Parameters
        ----------
        cell_rows : DataFrame
            campaign_id, segment, placement_id per unit.
        impressions : ndarray
            Impressions of each unit.
        """
        keys = ["campaign_id", "segment", "placement_id"]
        p = cell_rows[keys].merge(self.cells, on=keys, how="left")
        g = FORMS[self.form](np.asarray(impressions, float) / p["S"].to_numpy())
        conv = p["base"].to_numpy() + p["A"].to_numpy() * g
        return pd.DataFrame({"clicks": p["C"].to_numpy() * g, "conversions": conv,
                             "revenue": p["value"].to_numpy() * conv})


def generate_aggregates(*, campaigns: int = 3, interests: int = 8, placements: int = 1,
                        max_units: int = 12, periods: int | None = None, form: str = "exp",
                        noise: bool = True, zero_share: float = 0.05, seed: int = 0
                        ) -> tuple[pd.DataFrame, AggregateTruth]:
    """A per-ad (or per-period) aggregate export and its truth.

    Parameters
    ----------
    campaigns, interests, placements : int
        Cells are campaigns x 4 ages x 2 genders x interests x placements.
    max_units : int
        Most units (ads) per cell; each cell draws 1..max_units, so some are thin.
    periods : int, optional
        With a number: one row per cell x period (a ``period`` column), spend
        varying over periods. Without: one row per unit, no period.
    form : str
        ``exp``, ``hill``, ``log`` or ``power``.
    noise : bool
        Poisson outcomes (True) or their expectation.
    zero_share : float
        Share of units with no spend (they still yield the base).
    seed : int

    Returns
    -------
    export : DataFrame
    truth : AggregateTruth
    """
    if form not in FORMS:
        raise ParameterError(f"The 'form' parameter of generate_aggregates must be one of "
                             f"{sorted(FORMS)}. Got {form!r} instead.")
    if periods is not None and periods < 1:
        raise ParameterError(f"The 'periods' parameter of generate_aggregates must be at least "
                             f"1. Got {periods} instead.")
    rng = np.random.default_rng(seed)
    cells = []
    for c in range(campaigns):
        for age in AGES:
            for gender in GENDERS:
                for i in range(interests):
                    for p in range(placements):
                        scale = rng.lognormal(np.log(40_000), 0.5)
                        cells.append({
                            "campaign_id": f"c{c + 1}", "age": age, "gender": gender,
                            "interest": f"i{i + 1}", "segment": f"{age}/{gender}/i{i + 1}",
                            "placement_id": f"p{p + 1}",
                            "base": rng.choice([0.0, rng.uniform(0.05, 0.6)]),
                            "A": rng.lognormal(np.log(6.0), 0.5), "C": rng.lognormal(np.log(
                                120.0), 0.4), "S": scale, "value": rng.uniform(20, 60),
                            "cpm": rng.lognormal(np.log(3.0), 0.3)})
    table = pd.DataFrame(cells)
    truth = AggregateTruth(table[["campaign_id", "segment", "placement_id", "base", "A", "C",
                                  "S", "value", "cpm"]].copy(), form)
    rows = []
    for cell in table.itertuples(index=False):
        n = periods or int(rng.integers(1, max_units + 1))
        imps = rng.lognormal(np.log(cell.S), 0.9, n)
        if periods is None:
            imps = np.where(rng.random(n) < zero_share, 0.0, imps)
        imps = np.round(imps)
        for j, i in enumerate(imps):
            row = {"campaign_id": cell.campaign_id, "age": cell.age, "gender": cell.gender,
                   "interest": cell.interest, "segment": cell.segment,
                   "placement_id": cell.placement_id, "spend": round(i * cell.cpm / 1000, 2),
                   "impressions": i}
            if periods is not None:
                row["period"] = j + 1
            rows.append(row)
    export = pd.DataFrame(rows)
    mean = truth.expected(export, export["impressions"].to_numpy())
    for m in ("clicks", "conversions"):
        export[m] = rng.poisson(mean[m].to_numpy()).astype(float) if noise else mean[m]
    value = export[["campaign_id", "segment", "placement_id"]].merge(
        truth.cells, how="left")["value"].to_numpy()
    export["revenue"] = np.round(export["conversions"] * value, 2)
    return export, truth
