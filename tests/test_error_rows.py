"""Every error that names a row gives its 1-based position in the table as given.

Ingest's rows are tested in tests/ingest (row N of the file, header excluded)
and the importers' in tests/importers; here the tables that reach adopt as
DataFrames or files read into DataFrames: curves, exposure profiles and
aggregates, whatever their index and even when the check runs after a sort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.delivery import exposure_outcomes, validate_exposure
from adopt.exceptions import InputError
from adopt.importers.common import read_header
from adopt.optimize import fit_curves, validate_curves
from adopt.optimize.examples import random_curves


def _curves() -> pd.DataFrame:
    return random_curves(segments=3, placements=2, positions=3, seed=4)[0]


@pytest.mark.parametrize("index", [None, "offset"])
def test_curves_rows_are_one_based_positions_whatever_the_index(index):
    bad = _curves()
    bad.loc[4, "clicks"] = -1.0  # the fifth data row
    if index == "offset":
        bad.index = bad.index + 100  # a filtered or concatenated frame
    with pytest.raises(InputError, match=r"table 'curves', column 'clicks', row 5: must be >= 0"):
        validate_curves(bad)


def test_curves_rows_stay_input_rows_after_the_sort():
    curves = _curves().iloc[::-1]  # given in reverse: checks after the sort see it reordered
    gap = curves.loc[curves["k"] == 2].index[0]
    curves = curves.drop(index=gap)
    position = int(np.flatnonzero((curves["k"] == 3).to_numpy()
                                  & (curves["segment"] == _curves().loc[gap, "segment"]).to_numpy()
                                  & (curves["placement_id"]
                                     == _curves().loc[gap, "placement_id"]).to_numpy()
                                  & (curves["campaign_id"]
                                     == _curves().loc[gap, "campaign_id"]).to_numpy())[0])
    with pytest.raises(InputError, match=rf"column 'k', row {position + 1}: each cell needs k"):
        validate_curves(curves)


def _exposure(rows):
    return pd.DataFrame([{"campaign_id": c, "segment": "a", "placement_id": p, "ad_id": "",
                          "frequency": n, "users": 10.0, "impressions": 10.0 * n}
                         for c, p, n in rows])


def test_exposure_rows_are_one_based_and_survive_the_sort():
    # the third row is bad; the validator sorts by campaign first, which moves it
    rows = [("c2", "p", 1), ("c1", "p", 1), ("c0", "p", 0)]
    with pytest.raises(InputError, match=r"column 'frequency', row 3: must be an integer"):
        validate_exposure(_exposure(rows))
    curves = _curves()
    cell = curves.iloc[0]
    ok = (cell["campaign_id"], cell["placement_id"])
    exposure = _exposure([(ok[0], ok[1], 1), ("no-such-campaign", ok[1], 1)]).assign(
        segment=cell["segment"])
    with pytest.raises(InputError, match=r"column 'placement_id', row 2: cell not in the curves"):
        exposure_outcomes(curves, exposure)


def test_aggregates_rows_are_one_based():
    rows = [{"segment": "s", "placement_id": "p", "period": i, "spend": 4.0 * (i + 1),
             "impressions": 1000.0 * (i + 1), "clicks": 5.0 + i, "conversions": 1.0,
             "revenue": 2.0} for i in range(4)]
    agg = pd.DataFrame(rows, index=[10, 11, 12, 13])
    agg.loc[13, "spend"] = -1.0
    with pytest.raises(InputError, match=r"column 'spend', row 4: needs a finite number >= 0"):
        fit_curves(agg, positions=3)


def test_an_undecodable_header_is_line_1_not_a_data_row(tmp_path):
    path = tmp_path / "raw_sample.csv"
    path.write_bytes(b"user,\xff\xfe\n1,2\n")
    with pytest.raises(InputError) as err:
        read_header(path)
    assert "row" not in str(err.value) and "header (line 1)" in str(err.value)
