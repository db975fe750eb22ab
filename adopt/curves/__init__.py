"""Response curves: from the trained response model to the optimizer's curves table.

Data flow: segments (``audiences``) + profiles + a response model ->
`build_curves` -> ``WS/curves/curves.parquet``, ``placements.parquet`` and
``reach.parquet`` -> `adopt.optimize`. Also: `predict_pairs` (the model's
prediction for any user x ad x placement x k) and `recommend` (a user's top
ads by it), `curves_from_aggregates` (curves fitted to aggregate
performance), and the baseline exposure profiles a plan is compared with
(`uniform_exposure`, `historical_exposure`).
Module map: state (end-of-log features), pairs (predictions), recommend (a
user's top ads), frequency (the fall with k, read within user x campaign pairs
of the logs), reach (the share of a segment a placement reaches in the period,
`estimate_reach`), grid (staged prediction over the cell grid), bootstrap
(curves and intervals), build (the stage), aggregates, baselines.
"""

from adopt.curves.aggregates import curves_from_aggregates, fit_report
from adopt.curves.baselines import historical_exposure, uniform_exposure
from adopt.curves.build import CurvesSummary, build_curves, load_audiences
from adopt.curves.frequency import FrequencyDecay, fit_frequency_decay
from adopt.curves.pairs import predict_pairs
from adopt.curves.reach import estimate_reach
from adopt.curves.recommend import recommend
from adopt.curves.state import PairState

__all__ = [
    "CurvesSummary",
    "FrequencyDecay",
    "PairState",
    "build_curves",
    "curves_from_aggregates",
    "estimate_reach",
    "fit_frequency_decay",
    "fit_report",
    "historical_exposure",
    "load_audiences",
    "predict_pairs",
    "recommend",
    "uniform_exposure",
]
