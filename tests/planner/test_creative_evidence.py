"""What a plan's forecast rests on, creative by creative (adopt.plan.evidence)."""

from __future__ import annotations

import pandas as pd

from adopt.plan.evidence import creative_evidence_line
from adopt.report.sections_context import _forecast_assumptions

ALLOCATION = pd.DataFrame({"ad_id": ["a1", "a1", "a2", "a3", "a4"],
                           "conversions": [3.0, 1.0, 4.0, 2.0, 0.0]})
COUNTS = {"a1": {"impressions": 900, "clicks": 40, "conversions": 3},
          "a2": {"impressions": 0, "clicks": 0, "conversions": 0},
          "a3": {"impressions": 300, "clicks": 12, "conversions": 1},
          "a4": {"impressions": 0, "clicks": 0, "conversions": 0}}


def test_the_line_weighs_the_never_logged_creatives_by_the_forecast() -> None:
    line = creative_evidence_line(ALLOCATION, COUNTS, "conversions")
    # a4 carries nothing of the forecast: not bought; a2 carries 4 of 10
    assert line.startswith("the plan buys 3 creative(s); 1 never logged carry 40.0% of the "
                           "forecast conversions")
    assert "clicks min 12, median 40; conversions min 1, median 3 each" in line


def test_creatives_outside_the_record_are_counted_apart_and_nothing_recorded_says_nothing(
) -> None:
    line = creative_evidence_line(ALLOCATION, {"a1": COUNTS["a1"]}, "conversions")
    assert "0 never logged carry 0.0%" in line and "2 not in the curves' record" in line
    assert creative_evidence_line(ALLOCATION, None, "conversions") is None
    assert creative_evidence_line(ALLOCATION.iloc[:0], COUNTS, "conversions") is None
    assert creative_evidence_line(ALLOCATION, COUNTS, "revenue") is None


def test_the_report_lists_it_among_what_the_forecast_assumes() -> None:
    html = _forecast_assumptions({"creative_evidence": "the plan buys 3 creative(s) <b>"}, {})
    assert "What the bought creatives rest on" in html
    assert "3 creative(s) &lt;b&gt;" in html  # escaped like every text
