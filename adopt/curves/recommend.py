"""Personalised recommendation: the top ads for one user by predicted value.

Data flow: the warehouse (the user, every ad and placement) + the response
model -> `adopt.curves.predict_pairs` for the user's first impression of each
ad x placement -> the best ads, ranked. `adopt.Planner.recommend` calls it.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from adopt._validation import check_choice, check_int
from adopt.curves.pairs import predict_pairs
from adopt.exceptions import ParameterError
from adopt.workspace import Workspace

RANK_BY = {"clicks": "p_click", "conversions": "p_conversion", "revenue": "expected_revenue"}


def recommend(
    workspace: str | os.PathLike[str],
    user_id: str,
    k: int = 5,
    placement_id: str | None = None,
    by: str = "revenue",
    run_id: str | None = None,
    *,
    where: str = "recommend",
) -> pd.DataFrame:
    """The top `k` ads for one user by predicted value (personalised recommendation).

    Every ad is scored for the user's first impression at `placement_id`
    (or at every placement, keeping each ad's best) with the response
    model (`predict_pairs`).

    Parameters
    ----------
    workspace : path
        A workspace with a warehouse and a trained response model.
    user_id : str
    k : int
        How many ads.
    placement_id : str, optional
    by : str
        Rank by expected "revenue", "conversions" or "clicks".
    run_id : str, optional
        The response model under ``models/`` (default: the latest).
    where : str
        The function the user called, for error messages.

    Returns
    -------
    DataFrame
        rank, ad_id, campaign_id, title, placement_id, p_click,
        p_conversion, expected_revenue, best first.
    """
    check_int(where, "k", k, minimum=1)
    check_choice(where, "by", by, tuple(RANK_BY))
    with Workspace.of(workspace).connect(read_only=True) as con:
        known = con.execute(
            "select count(*) from users where user_id = ?", [str(user_id)]
        ).fetchone()[0]
        ads = con.execute("select ad_id, campaign_id, title from ads order by ad_id").df()
        places = (
            con.execute("select placement_id from placements order by placement_id")
            .df()["placement_id"]
            .tolist()
        )
    if not known:
        raise ParameterError(
            f"The 'user_id' parameter of {where} must be a user of the "
            f"warehouse. Got {user_id!r} instead."
        )
    if placement_id is not None:
        check_choice(where, "placement_id", placement_id, tuple(places))
        places = [placement_id]
    ad_ids = np.repeat(ads["ad_id"].to_numpy(dtype=object), len(places))
    place_ids = np.tile(np.asarray(places, dtype=object), len(ads))
    # one row per ad x placement, the user's first impression (k = 1)
    scored = predict_pairs(workspace, run_id, str(user_id), ad_ids, place_ids, 1)
    best = (
        scored.sort_values([RANK_BY[by], "ad_id"], ascending=[False, True])
        .drop_duplicates("ad_id")
        .head(k)
        .drop(columns="campaign_id")
    )
    out = best.merge(ads, on="ad_id", how="left")
    out.insert(0, "rank", range(1, len(out) + 1))
    cols = [
        "rank",
        "ad_id",
        "campaign_id",
        "title",
        "placement_id",
        "p_click",
        "p_conversion",
        "expected_revenue",
    ]
    return out[cols].reset_index(drop=True)
