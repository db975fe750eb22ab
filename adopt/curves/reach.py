"""Reachable audiences: the share of a segment a placement reaches in the plan period.

Data flow: ``audiences`` (user_id, segment), ``int_impressions`` (ts,
user_id, placement_id) and ``stg_placements`` in the warehouse ->
`estimate_reach` -> one row per segment x placement, written by
`adopt.curves.build_curves` as ``WS/curves/reach.parquet`` and summarised in
``curves.json``; the optimizer reads it as bounds on the users a cell can
reach and the impressions it can carry per reached user.

The planner would otherwise take every user of a segment as reachable at every
placement. The logs say how many were: a user a placement never showed an ad
to in a window of the plan's length is not one it can be counted on to reach.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from adopt.exceptions import InputError, ParameterError
from adopt.workspace import PROFILES_HINT, SEGMENT_HINT, Workspace

DAY_SECONDS = 86400.0
PRIOR_USERS = 50.0
COLUMNS = ["segment", "placement_id", "segment_users", "reachable_share",
           "impressions_per_user", "windows", "window_days", "observed_users", "basis"]

_BOUNDS_SQL = """
select max(ts) as end_ts, count(distinct ts::date) as log_days
from int_impressions
"""

# One pass over the impressions: per user x placement x window the user's
# impressions, then reached users and impressions per segment x placement x
# window, per placement x window (the population) and per window (any placement).
_REACH_SQL = """
with

impressions as (
    select
        int_impressions.user_id,
        int_impressions.placement_id,
        floor(epoch($end_ts::timestamp - int_impressions.ts) / $window_seconds)::bigint
            as window_index,
    from int_impressions
    where int_impressions.ts > $end_ts::timestamp - to_seconds($window_seconds * $windows)
),

user_cells as (
    select
        audiences.segment::varchar as segment,
        impressions.placement_id::varchar as placement_id,
        impressions.window_index,
        impressions.user_id,
        count(*) as impressions,
    from impressions
    inner join audiences on audiences.user_id = impressions.user_id
    where impressions.window_index < $windows
    group by all
),

final as (
    select
        user_cells.segment,
        user_cells.placement_id,
        user_cells.window_index,
        count(distinct user_cells.user_id) as reached_users,
        sum(user_cells.impressions) as impressions,
        grouping(user_cells.segment, user_cells.placement_id, user_cells.window_index)
            as grouping_id,
    from user_cells
    group by grouping sets (
        (user_cells.segment, user_cells.placement_id, user_cells.window_index),
        (user_cells.segment, user_cells.placement_id),
        (user_cells.placement_id, user_cells.window_index),
        (user_cells.window_index)
    )
)

select * from final
"""


def _validate(days: float, windows: int | None, prior_users: float) -> None:
    if not (isinstance(days, (int, float)) and math.isfinite(days) and days > 0):
        raise ParameterError(f"The 'days' parameter of estimate_reach must be a positive "
                             f"number. Got {days!r} instead.")
    if windows is not None and (not isinstance(windows, (int, np.integer)) or windows < 1):
        raise ParameterError(f"The 'windows' parameter of estimate_reach must be a positive "
                             f"integer or None. Got {windows!r} instead.")
    if not (math.isfinite(prior_users) and prior_users >= 0):
        raise ParameterError(f"The 'prior_users' parameter of estimate_reach must be a "
                             f"non-negative number. Got {prior_users!r} instead.")


def estimate_reach(
    workspace: str | os.PathLike[str],
    days: float,
    *,
    windows: int | None = None,
    prior_users: float = PRIOR_USERS,
) -> pd.DataFrame:
    """Estimate, per segment x placement, the share of users reachable in `days` days.

    The log is cut into non-overlapping windows of `days` days ending at its
    last impression (window i holds the impressions with ts in
    ``(end - (i + 1) * days, end - i * days]``); the last `windows` of them are
    averaged. The log is taken to be as long as the dates it has impressions
    on. A plan period longer than the log has one window, the whole log, and
    its impressions per user are scaled by ``days / log_days``
    (``window_days`` < `days` says so; the share is not scaled: users the log
    never reached are not counted on).

    Parameters
    ----------
    workspace : path
        A workspace whose warehouse has ``audiences``, ``int_impressions`` and
        ``stg_placements``.
    days : float
        The plan period's length in days.
    windows : int, optional
        How many of the last windows to average; default (and at most) all the
        windows of `days` days that fit in the log.
    prior_users : float
        Weight, in pseudo-users, of the beta prior that shrinks a segment's
        share toward the placement's share of the whole population:
        ``(reached + prior_users * population_share) / (segment_users +
        prior_users)``, with ``reached`` the segment's mean reached users per
        window. Thin segments move most; 0 keeps the raw shares.

    Returns
    -------
    pandas.DataFrame
        One row per segment (of ``audiences``) x placement (of
        ``stg_placements``), sorted by both:

        - ``segment_users``: the segment's members.
        - ``reachable_share``: share of them with at least one impression (any
          campaign) at the placement in a window, averaged over the windows
          and shrunk as above.
        - ``impressions_per_user``: the placement's impressions (all campaigns
          together) per reached user of the segment in a window (the ratio of
          the sums over the windows), scaled to the period when it is longer
          than the log. So ``reachable_share x segment_users x
          impressions_per_user`` is about the segment's logged impressions at
          the placement per window (exactly with ``prior_users=0``).
        - ``windows``, ``window_days``: the windows averaged and their length.
        - ``observed_users``: distinct segment users the placement reached in
          those windows (what impressions_per_user rests on).
        - ``basis``: ``"segment"`` (the segment's own logs, segment_users >=
          prior_users), ``"shrunk"`` (a thinner segment: the prior weighs more
          than its users), ``"placement"`` (the segment has no impression in
          the windows: the placement's population share and impressions per
          user) or ``"population"`` (no impression at the placement in the
          windows: the mean population share of the logged placements and
          their pooled impressions per reached user).

        ``attrs`` holds ``days``, ``log_days``, ``windows``, ``window_days``,
        ``end_ts``, ``prior_users`` and a ``note`` on what was assumed.

    Raises
    ------
    ParameterError
        `days`, `windows` or `prior_users` out of range.
    WorkspaceError
        A missing warehouse or table.
    InputError
        No impressions in the log, or an empty ``audiences``.
    """
    _validate(days, windows, prior_users)
    days = float(days)
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require(("int_impressions", "stg_placements"), PROFILES_HINT, con)
        ws.require("audiences", SEGMENT_HINT, con)
        end_ts, log_days = con.execute(_BOUNDS_SQL).fetchone()
        if end_ts is None:
            raise InputError("int_impressions", "ts", "no impressions: reach needs a log")
        log_days = float(log_days)
        if days > log_days:
            window_days, n_windows, scale = log_days, 1, days / log_days
        else:
            fit = max(1, math.floor(log_days / days + 1e-9))
            window_days, n_windows, scale = days, min(fit, windows or fit), 1.0
        cells = con.execute(_REACH_SQL, {"end_ts": end_ts, "windows": n_windows,
                                         "window_seconds": window_days * DAY_SECONDS}).df()
        sizes = con.execute("select segment::varchar as segment, count(distinct user_id) as n "
                            "from audiences group by 1").df()
        placements = con.execute(
            "select distinct placement_id::varchar as placement_id from stg_placements").df()
    if sizes.empty:
        raise InputError("audiences", None, "no rows: reach needs at least one segment")
    table = _assemble(cells, sizes, placements["placement_id"], n_windows, scale, prior_users)
    table["window_days"] = window_days
    note = (f"reachability in a {days:g}-day plan period taken as in the last {n_windows} "
            f"window(s) of {window_days:g} days of the log; impressions per user are what the "
            "placement carried for all campaigns together")
    if scale != 1.0:
        note += f"; the log is shorter than the period, impressions per user scaled by {scale:.3g}"
    if windows is not None and windows > n_windows:
        note += f"; {windows} windows asked, {n_windows} fit in the log"
    table.attrs.update(days=days, log_days=log_days, windows=n_windows,
                       window_days=window_days, end_ts=str(pd.Timestamp(end_ts)),
                       prior_users=float(prior_users), note=note)
    return table[COLUMNS]


def _assemble(cells: pd.DataFrame, sizes: pd.DataFrame, placement_ids: pd.Series,
              n_windows: int, scale: float, prior_users: float) -> pd.DataFrame:
    """The segment x placement table from the grouped counts of `_REACH_SQL`."""
    # grouping_id bits (segment, placement, window): 1 where the set does not group by it
    gid = cells["grouping_id"].to_numpy()
    seg, pl, win = (gid & 4) > 0, (gid & 2) > 0, (gid & 1) > 0
    total_users = float(sizes["n"].sum())
    # the population at each placement, averaged over the windows
    pop = cells[seg & ~pl & ~win].groupby("placement_id")[["reached_users", "impressions"]].sum()
    pop_share = pop["reached_users"] / n_windows / total_users
    pop_ipu = pop["impressions"] / pop["reached_users"]
    # a placement the windows never saw: the mean logged placement
    unlogged_share = float(pop_share.mean()) if len(pop) else 1.0
    unlogged_ipu = (float(pop["impressions"].sum() / pop["reached_users"].sum())
                    if len(pop) else float("nan"))
    own = cells[~seg & ~pl & ~win].groupby(["segment", "placement_id"])[
        ["reached_users", "impressions"]].sum()
    distinct = cells[~seg & ~pl & win].set_index(["segment", "placement_id"])["reached_users"]

    grid = pd.MultiIndex.from_product(
        [sorted(sizes["segment"]), sorted(placement_ids)], names=["segment", "placement_id"])
    out = pd.DataFrame(index=grid).reset_index()
    out["segment_users"] = out["segment"].map(sizes.set_index("segment")["n"]).astype("int64")
    keys = pd.MultiIndex.from_frame(out[["segment", "placement_id"]])
    reached = own["reached_users"].reindex(keys).fillna(0).to_numpy(float) / n_windows
    imps = own["impressions"].reindex(keys).fillna(0).to_numpy(float) / n_windows
    out["observed_users"] = distinct.reindex(keys).fillna(0).to_numpy("int64")

    p_share = out["placement_id"].map(pop_share).to_numpy(float)
    p_ipu = out["placement_id"].map(pop_ipu).to_numpy(float)
    users = out["segment_users"].to_numpy(float)
    share = (reached + prior_users * p_share) / (users + prior_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        ipu = np.where(reached > 0, imps / reached, p_ipu)
    seen_segments = set(own.index.get_level_values("segment"))
    basis = np.where(users >= prior_users, "segment", "shrunk").astype(object)
    no_segment = ~out["segment"].isin(seen_segments).to_numpy()
    share = np.where(no_segment, p_share, share)
    basis[no_segment] = "placement"
    no_placement = ~out["placement_id"].isin(pop.index).to_numpy()
    share = np.where(no_placement, unlogged_share, share)
    ipu = np.where(no_placement, unlogged_ipu, ipu)
    basis[no_placement] = "population"
    out["reachable_share"] = np.clip(share, 0.0, 1.0)
    out["impressions_per_user"] = ipu * scale
    out["windows"] = n_windows
    out["basis"] = basis.astype(str)
    return out


def apply_reach(curves: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """The curves with each cell's reachable users and the impressions they can take.

    ``users`` becomes ``reachable_share x segment_users`` of the cell's segment x
    placement and ``impressions_per_user`` is added: the optimizer bounds a
    cell's impressions by the reachable users (`adopt.optimize.lp`) and a
    segment's impressions at a placement, all campaigns together, by
    ``users x impressions_per_user``. Cells without an estimate keep every
    user reachable and no capacity (NaN).
    """
    key = ["segment", "placement_id"]
    table = reach[[*key, "reachable_share", "impressions_per_user"]].astype(
        {"segment": str, "placement_id": str})
    out = curves.drop(columns=["impressions_per_user"], errors="ignore").merge(
        table, on=key, how="left", validate="many_to_one")
    share = out.pop("reachable_share").fillna(1.0).clip(0.0, 1.0)
    out["users"] = out["segment_users"] * share
    return out
