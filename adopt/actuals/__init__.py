"""A plan's forecast against what its delivery logged.

Data flow: ``plans/<plan_id>/`` (plan.json, allocation.parquet, exposure.parquet) + the
curves file the plan names + the warehouse's events of the plan period (the ad server's
log, loaded by ``adopt ingest``) + ``audiences`` -> `check_actuals` -> `ActualsCard` ->
``adopt actuals`` and ``plans/<plan_id>/actuals.json``.

Why: `adopt score` weighs a plan against a synthetic world's truth; a real plan
is delivered on real users, and what holds its forecast to account is the
delivery's own log. The card compares, per campaign and in total, what was
planned (impressions, reach, spend) with what the ad server delivered, and the
forecast with what the delivery bought, twice: as planned, and at what was delivered,
so that an ad server's shortfall or its frequency is not read as the response model's
miss. At what was delivered, each impression is valued on the plan's own curves at its
place k in its user's sequence of the campaign over all placements, in time order (the
plan values a user's N impressions at the curve's mean over k = 1..N, what a random order
gives on average; here the order is known), where the curves file still hashes to the
plan's curves_hash; else each cell's forecast per impression times the impressions it got
(kept beside it as ``at_volume``: the plan's frequency). The plan's interval, of an
expected value, is widened by the logged counts' own noise. A table by day sets the
delivery against even pacing, with the forecast of each day's impressions; while the plan
runs, a note says when delivery runs more than 10% ahead or behind, and each metric is
projected to the period's end. A table by place k sets the fall with k the plan assumed
against the clicks and conversions that name their impression. Clicks and conversions
count for the cell of their impression (by impression_id; an unlinked one by its own row,
inside the period). A user counts once per campaign x placement, in one segment: the first
(by name) of their segments the plan buys at that campaign and placement, else the first
of theirs (rule-based audiences may overlap). Campaign x segment rows of segments under the
minimum size, of unknown size, or of too few users outside every segment are merged
(`adopt.report.privacy`); no user id leaves the warehouse.
"""

from adopt.actuals.card import FILE, METRICS, NO_SEGMENT, ActualsCard
from adopt.actuals.check import check_actuals
from adopt.actuals.window import plan_window

__all__ = ["FILE", "METRICS", "NO_SEGMENT", "ActualsCard", "check_actuals", "plan_window"]
