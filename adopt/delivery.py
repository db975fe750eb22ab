"""Exposure profiles: their forecast on curves, and their delivery user by user on a truth.

Data flow: a plan's (or a baseline's) **exposure table** -> `evaluate_exposure`
on a curves table (the forecast) and `deliver` on a synthetic world's
`adopt.synth.truth.Truth` + the workspace's ``audiences`` (what it buys when
an ad server delivers it) -> totals (spend, impressions, reach, clicks,
conversions, revenue). `adopt.scoring` compares the two.

The exposure table has one row per campaign x segment x frequency x placement:
campaign_id, segment, placement_id, ad_id (the creative at that cell),
frequency N (these users receive exactly N impressions of the campaign over
all placements), users (segment users with exactly N; the same on every
placement row of the campaign x segment x N) and impressions (at this
placement, received by those users; they sum over placements to N x users).

A curve row (campaign, segment, placement, k) values an impression that is
the user's k-th of the campaign counted over all placements. A user's N
impressions come in random order, so the forecast values each impression at
placement p with the mean of the curve over k = 1..N.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from adopt.exceptions import InputError
from adopt.optimize.curves import METRICS, build_grid
from adopt.optimize.result import TOTALS

if TYPE_CHECKING:
    from adopt.synth.truth import Truth

TABLE = "exposure"
GROUP = ["campaign_id", "segment", "frequency"]
CELL = ["campaign_id", "segment", "placement_id"]
COLUMNS = ("campaign_id", "segment", "placement_id", "ad_id", "frequency", "users",
           "impressions")
_TOL = 1e-6


def _first_bad(df: pd.DataFrame, mask: np.ndarray) -> int:
    """The 1-based row, in the table as given, of the first row where `mask` holds.

    `df`'s index holds each row's 0-based position in the input (kept through sorts).
    """
    return int(df.index[np.flatnonzero(mask)[0]]) + 1


def validate_exposure(exposure: pd.DataFrame, table: str = TABLE) -> pd.DataFrame:
    """Check an exposure table against the contract; a clean copy sorted by group and placement.

    Raises
    ------
    InputError
        A missing column or id, a non-numeric or negative number, a frequency
        that is not an integer >= 1, a duplicated row, users that differ
        between the placement rows of one group, impressions above N x users,
        or impressions that do not sum to N x users over a group's placements.
        Rows are 1-based positions in `exposure` as given.
    """
    return _validated(exposure, table).reset_index(drop=True)


def _validated(exposure: pd.DataFrame, table: str = TABLE) -> pd.DataFrame:
    """`validate_exposure` before its index is reset: each row's 0-based input position."""
    for col in COLUMNS:
        if col not in exposure.columns:
            raise InputError(table, col, f"required column is missing (required: {list(COLUMNS)})")
    out = exposure.reset_index(drop=True)  # the index: each row's position in the input
    for col in ("campaign_id", "segment", "placement_id"):
        if out[col].isna().any():
            raise InputError(table, col, "missing id", _first_bad(out, out[col].isna().to_numpy()))
        out[col] = out[col].astype(str)
    out["ad_id"] = out["ad_id"].fillna("").astype(str)
    for col in ("frequency", "users", "impressions"):
        values = pd.to_numeric(out[col], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise InputError(table, col, "needs a finite number >= 0", _first_bad(out, bad))
        out[col] = values
    n = out["frequency"].to_numpy()
    if ((n < 1) | (n != np.floor(n))).any():
        raise InputError(table, "frequency", "must be an integer >= 1",
                         _first_bad(out, (n < 1) | (n != np.floor(n))))
    out["frequency"] = out["frequency"].astype(np.int64)
    dup = out.duplicated([*GROUP, "placement_id"]).to_numpy()
    if dup.any():
        raise InputError(table, "placement_id", "duplicate campaign x segment x frequency x "
                         "placement", _first_bad(out, dup))
    out = out.sort_values([*GROUP, "placement_id"], kind="stable")
    grouped = out.groupby(GROUP, sort=False)
    users = out["users"].to_numpy()
    spread = (grouped["users"].transform("max") - grouped["users"].transform("min")).to_numpy()
    bad = spread > _TOL * np.maximum(users, 1.0)
    if bad.any():
        raise InputError(table, "users", "differs between the placement rows of one campaign x "
                         "segment x frequency", _first_bad(out, bad))
    need = out["frequency"].to_numpy() * users
    imps = out["impressions"].to_numpy()
    bad = imps > need + _TOL * np.maximum(need, 1.0)
    if bad.any():
        raise InputError(table, "impressions", "above frequency x users", _first_bad(out, bad))
    total = grouped["impressions"].transform("sum").to_numpy()
    bad = np.abs(total - need) > _TOL * np.maximum(need, 1.0)
    if bad.any():
        row = _first_bad(out, bad)
        raise InputError(table, "impressions", "does not sum over placements to frequency x "
                         f"users ({total[np.flatnonzero(bad)[0]]:g} vs "
                         f"{need[np.flatnonzero(bad)[0]]:g})", row)
    return out.reset_index(drop=True)


def exposure_outcomes(curves: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    """The forecast of every exposure row on a curves table.

    Parameters
    ----------
    curves : DataFrame
        Any table that follows the curves contract (`adopt.optimize.curves`):
        the model's, or a world's true curves.
    exposure : DataFrame
        An exposure table (see the module docstring).

    Returns
    -------
    DataFrame
        The validated exposure with spend, clicks, conversions and revenue
        added: impressions x the mean over k = 1..N of the cell's
        cost_per_impression and metrics.

    Raises
    ------
    InputError
        A row whose cell the curves do not have, or whose frequency N is
        beyond the cell's curve depth.
    """
    out = _validated(exposure)
    input_rows = out.index.to_numpy() + 1  # 1-based rows of the exposure as given
    out = out.reset_index(drop=True)
    grid = build_grid(curves)
    key = pd.MultiIndex.from_frame(grid.cells[CELL])
    cell = key.get_indexer(pd.MultiIndex.from_frame(out[CELL]))
    if (cell < 0).any():
        bad = int(np.flatnonzero(cell < 0)[0])
        raise InputError(TABLE, "placement_id", "cell not in the curves: "
                         f"{tuple(out[CELL].iloc[bad])}", int(input_rows[bad]))
    n = out["frequency"].to_numpy()
    deep = n > grid.depth[cell]
    if deep.any():
        bad = int(np.flatnonzero(deep)[0])
        raise InputError(TABLE, "frequency", f"{n[bad]} is beyond the curves' depth "
                         f"{grid.depth[cell][bad]} for {tuple(out[CELL].iloc[bad])}",
                         int(input_rows[bad]))
    positions = np.arange(1, grid.K + 1)[None, :]
    imps = out["impressions"].to_numpy()
    for name, values in (("spend", grid.cpi), *((m, grid.metric(m)) for m in METRICS)):
        means = np.cumsum(values, axis=1) / positions
        out[name] = imps * means[cell, n - 1]
    return out


def _reach(exposure: pd.DataFrame) -> float:
    return float(exposure.groupby(GROUP, sort=False)["users"].first().sum())


def evaluate_exposure(curves: pd.DataFrame, exposure: pd.DataFrame) -> dict[str, float]:
    """Forecast totals of an exposure on a curves table (see `exposure_outcomes`).

    Returns
    -------
    dict
        spend, impressions, reach (the users of every campaign x segment x N,
        summed), clicks, conversions, revenue.
    """
    rows = exposure_outcomes(curves, exposure)
    out = {name: float(rows[name].sum()) for name in TOTALS if name != "reach"}
    out["reach"] = _reach(rows)
    return {name: out[name] for name in TOTALS}


@dataclass(frozen=True)
class DeliveryCaps:
    """Frequency caps a delivery enforces (impressions beyond them are dropped and counted).

    Attributes
    ----------
    per_placement : int or mapping of placement_id to int, optional
        Impressions of a campaign per user at one placement.
    across_placements : int, optional
        Impressions of a campaign per user over all placements; a user's
        impressions after the cap (in delivery order) are dropped.
    """

    per_placement: int | Mapping[str, int] | None = None
    across_placements: int | None = None


@dataclass
class DeliveryResult:
    """What an exposure bought when delivered user by user on a truth.

    Attributes
    ----------
    totals : dict
        spend, impressions, reach, clicks, conversions, revenue (expected on
        the truth, given the users drawn).
    users_requested : int
        Users the exposure asks for, after stochastic rounding.
    users_drawn : int
        Users who received the exposure (requested minus the shortfall of
        groups beyond their segment's size).
    impressions_dropped : dict
        Impressions dropped by the caps: ``placement`` and ``across``.
    seed : int
    """

    totals: dict[str, float]
    users_requested: int
    users_drawn: int
    impressions_dropped: dict[str, int] = field(default_factory=dict)
    seed: int = 0

    @property
    def users_short(self) -> int:
        return self.users_requested - self.users_drawn


def _draw_users(rng: np.random.Generator, audiences: pd.DataFrame, pair_segment: pd.Series,
                pair_need: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per campaign x segment pair, `need` distinct members of its segment (fewer if small)."""
    aud = audiences[["user_id", "segment"]].astype(str).drop_duplicates()
    members = dict(tuple(aud.groupby("segment", sort=True)["user_id"]))
    missing = sorted(set(pair_segment) - members.keys())
    if missing:
        raise InputError("audiences", "segment", f"segment {missing[0]!r} of the exposure has no "
                         "member in the audiences")
    drawn, taken = [], np.zeros(len(pair_need), dtype=np.int64)
    for j, (segment, need) in enumerate(zip(pair_segment, pair_need, strict=True)):
        pool = members[segment].to_numpy()
        taken[j] = min(int(need), len(pool))
        drawn.append(pool[rng.choice(len(pool), size=taken[j], replace=False)])
    return drawn, taken


def _split(rng: np.random.Generator, avg: np.ndarray, start: np.ndarray, width: np.ndarray,
           user_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer impressions per user x placement row, matching `avg` per row in expectation.

    Each user of group g gets floor(avg) at each of its rows plus, by
    systematic sampling of the remainders with a per-user uniform offset, one
    more at rows whose remainder the offset picks; the extras sum to the
    group's remainder, so every user gets exactly N.
    Returns (row, count) for every user x row, users in order.
    """
    snapped = np.round(avg)
    avg = np.where(np.abs(avg - snapped) < 1e-9, snapped, avg)
    base = np.floor(avg)
    rem = avg - base
    upper = np.cumsum(rem)
    upper -= np.repeat(upper[start] - rem[start], width)  # restart the cumsum per group
    last = start + width - 1
    upper[last] = np.round(upper[last])  # the group's remainder is a whole number
    lower = np.r_[0.0, upper[:-1]]  # shifted, so the extras telescope to the remainder
    lower[start] = 0.0
    offset = rng.random(len(user_group))
    reps = width[user_group]
    first = np.repeat(np.cumsum(reps) - reps, reps)
    row = np.repeat(start[user_group], reps) + np.arange(reps.sum()) - first
    u = np.repeat(offset, reps)
    extra = np.ceil(upper[row] - u) - np.ceil(lower[row] - u)
    return row, (base[row] + extra).astype(np.int64)


@dataclass(frozen=True)
class _Impressions:
    """The impressions a delivery serves: per impression its user, exposure row and k.

    ``owner`` numbers each user drawn for a campaign (a user x campaign); k counts
    the owner's impressions.
    """

    exposure: pd.DataFrame  # the validated exposure (rows with users > 0)
    user_ids: np.ndarray
    owner: np.ndarray
    row: np.ndarray
    k: np.ndarray
    users_requested: int
    users_drawn: int
    dropped: dict[str, int]

    @property
    def ad_ids(self) -> np.ndarray:
        return self.exposure["ad_id"].to_numpy()[self.row]

    @property
    def placement_ids(self) -> np.ndarray:
        return self.exposure["placement_id"].to_numpy()[self.row]


def _serve(rng: np.random.Generator, audiences: pd.DataFrame, exposure: pd.DataFrame,
           caps: DeliveryCaps | None) -> _Impressions:
    """Draw the users, split their impressions, order them and apply the caps (`deliver`)."""
    ex = validate_exposure(exposure)
    ex = ex.loc[ex["users"] > 0].reset_index(drop=True)
    dropped = {"placement": 0, "across": 0}
    if ex.empty:
        none = np.array([], dtype=np.int64)
        return _Impressions(ex, np.array([], dtype=object), none, none, none, 0, 0, dropped)
    gid = ex.groupby(GROUP, sort=False).ngroup().to_numpy()  # rows are sorted by group
    start = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    width = np.diff(np.r_[start, len(ex)])
    heads = ex.iloc[start]
    n = heads["frequency"].to_numpy()
    users = heads["users"].to_numpy()
    want = (np.floor(users) + (rng.random(len(users)) < users - np.floor(users))).astype(np.int64)
    pair = heads.groupby(["campaign_id", "segment"], sort=False).ngroup().to_numpy()
    pair_heads = heads.drop_duplicates(["campaign_id", "segment"])
    pair_want = np.bincount(pair, weights=want, minlength=len(pair_heads)).astype(np.int64)
    drawn, taken = _draw_users(rng, audiences, pair_heads["segment"], pair_want)
    # users asked by the earlier (smaller N) groups of the same campaign x segment
    before = np.cumsum(want) - want - (np.cumsum(pair_want) - pair_want)[pair]
    got = np.clip(taken[pair] - before, 0, want)
    user_ids = np.concatenate(drawn) if drawn else np.array([], dtype=object)
    user_group = np.repeat(np.arange(len(start)), got)

    avg = ex["impressions"].to_numpy() / np.repeat(users, width)
    avg *= np.repeat(n / np.bincount(gid, weights=avg), width)  # exactly N per user
    row, count = _split(rng, avg, start, width, user_group)
    owner = np.repeat(np.arange(len(user_group)), width[user_group])
    if caps is not None and caps.per_placement is not None:
        cap = caps.per_placement
        limit = (ex["placement_id"].map(cap).fillna(np.inf).to_numpy()[row]
                 if isinstance(cap, Mapping) else np.full(len(row), float(cap)))
        kept = np.minimum(count, limit).astype(np.int64)
        dropped["placement"] = int((count - kept).sum())
        count = kept

    imp_owner = np.repeat(owner, count)
    imp_row = np.repeat(row, count)
    order = np.lexsort((rng.random(len(imp_owner)), imp_owner))
    imp_owner, imp_row = imp_owner[order], imp_row[order]
    firsts = np.r_[0, np.cumsum(np.bincount(imp_owner, minlength=len(user_group)))[:-1]]
    k = np.arange(len(imp_owner)) - firsts[imp_owner] + 1
    if caps is not None and caps.across_placements is not None:
        keep = k <= caps.across_placements
        dropped["across"] = int((~keep).sum())
        imp_owner, imp_row, k = imp_owner[keep], imp_row[keep], k[keep]
    return _Impressions(ex, user_ids[imp_owner], imp_owner, imp_row, k, int(want.sum()),
                        int(got.sum()), dropped)


def deliver(truth: Truth, audiences: pd.DataFrame, exposure: pd.DataFrame, *,
            caps: DeliveryCaps | None = None, seed: int = 0) -> DeliveryResult:
    """Deliver an exposure user by user on a world's truth.

    Per campaign x segment, the users of each frequency group N are drawn at
    random, without replacement, from the segment's members (groups in
    increasing N; the users beyond the segment's size are not drawn and count
    as a shortfall). Fractional users are rounded stochastically. Each user
    gets exactly N impressions, split over the group's placements with
    floor or ceil of the group's average impressions/users at each one (see
    `_split`); the user's impressions are put in random order and the j-th is
    valued by ``truth.expected`` at k = j with the row's ad_id. Spend is
    impressions x the placement's cpm / 1000.

    Parameters
    ----------
    truth : Truth
        The world's ground truth (`adopt.synth.load_truth`).
    audiences : DataFrame
        user_id, segment.
    exposure : DataFrame
        An exposure table (see the module docstring); every ad_id must be
        the truth's.
    caps : DeliveryCaps, optional
        Caps to enforce; the impressions beyond them are dropped and counted.
    seed : int
        Seed of the draws: the same seed gives the same result.

    Returns
    -------
    DeliveryResult
    """
    served = _serve(np.random.default_rng(seed), audiences, exposure, caps)
    value = truth.expected(served.user_ids, served.ad_ids, served.placement_ids, served.k)
    cpm = truth.placements["cpm"].reindex(served.placement_ids).to_numpy(float)
    totals = {"spend": float((cpm / 1000.0).sum()),
              "impressions": float(len(served.row)),
              "reach": float(len(np.unique(served.owner))),
              "clicks": float(value["p_click"].sum()),
              "conversions": float(value["p_conversion"].sum()),
              "revenue": float(value["expected_revenue"].sum())}
    return DeliveryResult(totals=totals, users_requested=served.users_requested,
                          users_drawn=served.users_drawn, impressions_dropped=served.dropped,
                          seed=seed)


def delivery_events(truth: Truth, audiences: pd.DataFrame, exposure: pd.DataFrame, *,
                    start: pd.Timestamp, days: float, caps: DeliveryCaps | None = None,
                    seed: int = 0, id_prefix: str = "d") -> pd.DataFrame:
    """The event log an ad server would write delivering an exposure on a world's truth.

    The same users and impressions as `deliver` with the same seed (its totals are
    these events' expectation); each impression gets a time in [start, start +
    days), a user's in the order of their k, then a click drawn with the truth's
    p_click at that k and, after a click, a conversion with its conversions per
    click, whose revenue is the ad's order value. Cost is the placement's cpm / 1000;
    impression ids are `id_prefix` and a number.

    Returns
    -------
    DataFrame
        The input contract's events (ts, user_id, ad_id, placement_id, event, cost,
        revenue, impression_id), sorted by time: what `adopt ingest` loads as the
        plan's delivery, for `adopt actuals` to weigh against the forecast.
    """
    rng = np.random.default_rng(seed)
    served = _serve(rng, audiences, exposure, caps)
    ads, places = served.ad_ids, served.placement_ids
    value = truth.expected(served.user_ids, ads, places, served.k)
    n = len(ads)
    span = max(int(round(float(days) * 86_400e6)), 1)
    # times at random in the period; a user's impressions of a campaign take theirs in k order
    drawn = rng.integers(0, span, n)
    ts = np.empty(n, dtype=np.int64)
    ts[np.lexsort((served.k, served.owner))] = drawn[np.lexsort((drawn, served.owner))]
    clicked = rng.random(n) < value["p_click"].to_numpy()
    converted = clicked & (rng.random(n) < value["p_conversion_given_click"].to_numpy())
    ids = (id_prefix + pd.Series(np.arange(n)).astype(str)).to_numpy(object)
    kind = np.repeat([0, 1, 2], [n, int(clicked.sum()), int(converted.sum())])
    rows = np.r_[np.arange(n), np.flatnonzero(clicked), np.flatnonzero(converted)]
    cpm = truth.placements["cpm"].reindex(places).to_numpy(float)
    order_value = truth.ads["order_value"].reindex(ads).to_numpy(float)
    events = pd.DataFrame({
        "ts": pd.Timestamp(start) + pd.to_timedelta(ts[rows] + kind * 1_000_000, unit="us"),
        "user_id": served.user_ids[rows].astype(str),
        "ad_id": ads[rows].astype(str),
        "placement_id": places[rows].astype(str),
        "event": np.array(["impression", "click", "conversion"])[kind],
        "cost": np.where(kind == 0, cpm[rows] / 1000.0, 0.0),
        "revenue": np.where(kind == 2, order_value[rows], np.nan),
        "impression_id": ids[rows],
    })
    return events.sort_values(["ts", "impression_id"], kind="stable").reset_index(drop=True)
