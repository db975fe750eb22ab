"""Per-user predictions on the campaign x segment x placement x k grid, in four batched stages.

Data flow: sampled users of each segment (`Sample`) + the campaigns' ads +
`PairState` -> `predict_grid` -> `CellValues`: for every campaign x segment
the chosen creative per placement, each sampled user's k = 1 values and the
shape users' values at every k (every sampled user's, with a `FrequencyDecay`).
`adopt.curves.bootstrap` turns them into curves with intervals.

Predicting every sampled user at every k for every creative would take tens of
millions of model rows, so the grid is evaluated in stages (rows are counted
in the log):

1. screen: every ad of a campaign at k = 1 on the shape users (a subsample
   of each segment's sample), at every placement;
2. choose: the campaign's ``top_creatives`` best ads of step 1 (per segment,
   summed over placements) at k = max_k; the segment gets the candidate with
   the most value summed over k (trapezoid over k = 1 and max_k) and over
   placements, one creative for all its placements;
3. shape: the chosen creative at every k on the shape users;
4. level: the chosen creative at k = 1 on the other sampled users;
5. anchor: the chosen creative at k = 1 on the segment's wider draw of users
   (`Sample.wide`), each at one placement in turn (`anchor_placements`).

A segment's level is then a double sample (`adopt.curves.bootstrap`): the
sampled users give each placement's value relative to the anchor's, and the
wider draw, at one row a user, the anchor's mean. With 300 users the mean of
the k = 1 values is off by its sampling error, several percent a cell; eight
placements a user cost eight rows, one placement one.

Value is the metric `build_curves`' ``creative_metric`` names: the plan's
objective's, or each campaign's own objective's (clicks for clicks and reach,
conversions, revenue; a campaign without one counts conversions).

With a `FrequencyDecay` read from the logs (`adopt.curves.frequency`), the
fall with k is not asked of the model: every sampled user's k = 1 values are
carried to each k by the decay (`expand_k`), so step 3 predicts no rows
and every sampled user is a shape user.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from adopt.curves.frequency import FrequencyDecay, fall_factor
from adopt.curves.pairs import predict_rows
from adopt.curves.state import PairState
from adopt.exceptions import InputError
from adopt.progress import Progress

METRICS = ("clicks", "conversions", "revenue")
_COLUMN = {"clicks": "p_click", "conversions": "p_conversion", "revenue": "expected_revenue"}
OBJECTIVE_METRIC = {"clicks": 0, "reach": 0, "conversions": 1, "revenue": 2}
ENGINES = ("auto", "local", "ray")
# engine="auto" scores a stage on Ray Data from this many rows on; provisional: on 2 shared
# cores Ray was slower up to 80,000 rows (bench/curves_score_bench.py, docs/curves.md)
RAY_MIN_ROWS = 2_000_000


@dataclass(frozen=True)
class Sample:
    """Sampled users per segment; the first `shape[s]` of each segment are its shape users.

    Attributes
    ----------
    segments : Index
        Segment names.
    sizes : ndarray of int
        Users in each segment (all of them, not only the sample).
    users : list of ndarray
        Per segment, row numbers in `PairState.users` of the sampled users.
    shape : ndarray of int
        Per segment, how many of its sampled users are shape users.
    wide : list of ndarray
        Per segment, the further users of the anchor's draw (`predict_grid`'s stage 5):
        the sampled users and these are the first users of one permutation.
    """

    segments: pd.Index
    sizes: np.ndarray
    users: list[np.ndarray]
    shape: np.ndarray
    wide: list[np.ndarray]


def sample_users(audiences: pd.DataFrame, state: PairState, n: int, m: int, seed: int,
                 level_users: int = 0) -> Sample:
    """Draw up to `n` users of each segment without replacement, `m` of them shape users,
    and up to `level_users` in all for the level's anchor (none beyond the `n` when
    ``level_users <= n``)."""
    aud = audiences[["user_id", "segment"]].drop_duplicates()
    codes, segments = pd.factorize(aud["segment"].astype(str), sort=True)
    uidx = state.user_index(aud["user_id"].to_numpy())
    rng = np.random.default_rng(seed)
    users, further = [], []
    for s in range(len(segments)):
        members = rng.permutation(np.sort(uidx[codes == s]))
        users.append(members[:n])
        further.append(members[n:max(n, level_users)])
    sizes = np.bincount(codes, minlength=len(segments))
    shape = np.array([min(m, len(u)) for u in users])
    return Sample(segments=pd.Index(segments), sizes=sizes, users=users, shape=shape,
                  wide=further)


def anchor_placements(first: int, count: int, n_pl: int) -> np.ndarray:
    """The placement each user of the anchor's draw is valued at: placements in turn by the
    user's place in the draw (`first` = the place of the first of `count` users)."""
    return np.arange(first, first + count) % n_pl


@dataclass
class CellValues:
    """What `predict_grid` returns, per campaign x segment (keys ``(c, s)``).

    Attributes
    ----------
    ads : dict of ndarray (n_placements,)
        Row number in `PairState.ads` of the chosen creative per placement.
    first : dict of ndarray (n_users, n_placements, 3)
        k = 1 clicks, conversions, revenue of every sampled user of the segment.
    shape : dict of ndarray (n_shape, n_placements, K, 3)
        The shape users' values at every k; with a `FrequencyDecay`, every sampled
        user's (n_users, n_placements, K, 3).
    wide : dict of ndarray (n_wide, 3)
        k = 1 values of the segment's further users (`Sample.wide`), each at its
        `anchor_placements` placement; absent where the segment has none.
    rows : int
        Model rows predicted.
    engines : list of str
        Where they were scored (``"local"``, ``"ray"``).
    """

    ads: dict[tuple[int, int], np.ndarray]
    first: dict[tuple[int, int], np.ndarray]
    shape: dict[tuple[int, int], np.ndarray]
    rows: int
    engines: list[str] = field(default_factory=list)
    wide: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)


class _Predictor:
    """Predicts flat index arrays and returns the three metrics stacked (rows x 3).

    ``engine`` ``"ray"`` scores on Ray Data actors (`adopt.curves.score_ray`),
    ``"local"`` in this process, ``"auto"`` on Ray from `RAY_MIN_ROWS` rows a stage on
    or when this process has joined a Ray cluster of several nodes.
    """

    @staticmethod
    def _auto_ray(rows: int) -> bool:
        from adopt.response.ray_lgbm import joined_cluster

        return rows >= RAY_MIN_ROWS or (rows > 0 and joined_cluster())

    def __init__(self, state: PairState, model: object, attach: object, progress: Progress,
                 engine: str = "local", actors: int | None = None) -> None:
        self.state, self.model, self.attach, self.progress = state, model, attach, progress
        self.engine, self.actors = engine, actors
        self.rows = 0
        self.engines: set[str] = set()

    def __call__(self, u: np.ndarray, a: np.ndarray, p: np.ndarray, k: np.ndarray) -> np.ndarray:
        self.rows += len(u)
        if self.engine == "ray" or (self.engine == "auto" and self._auto_ray(len(u))):
            from adopt.curves.score_ray import predict_rows_on_ray

            self.engines.add("ray")
            pred = predict_rows_on_ray(self.state, self.model, u, a, p, k, attach=self.attach,
                                       actors=self.actors, progress=self.progress)
        else:
            self.engines.add("local")
            pred = predict_rows(self.state, self.model, u, a, p, k, attach=self.attach,
                                progress=self.progress)
        return np.stack([pred[_COLUMN[m]] for m in METRICS], axis=1)


def _grid(users: np.ndarray, ads: np.ndarray, n_pl: int, ks: np.ndarray
          ) -> tuple[np.ndarray, ...]:
    """Flat (user, ad, placement, k) arrays over users x placements x ks; `ads` per placement."""
    nu, nk = len(users), len(ks)
    u = np.repeat(users, n_pl * nk)
    p = np.tile(np.repeat(np.arange(n_pl), nk), nu)
    a = np.tile(np.repeat(ads, nk), nu)
    k = np.tile(ks, nu * n_pl)
    return u, a, p, k


def expand_k(first: np.ndarray, decay: FrequencyDecay, ks: np.ndarray) -> np.ndarray:
    """Values at each of ``ks`` from k = 1 values (..., 3): clicks fall by the decay's
    click-logit penalty; conversions and revenue per click stay as they are."""
    fall = fall_factor(first[..., 0][..., None], decay.penalty(ks))
    return first[..., None, :] * fall[..., None]


def _stage(predict: _Predictor, pieces: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """Predict many `_grid` pieces in one batched call; return each piece's values."""
    if not pieces:
        return []
    flat = [np.concatenate(parts) for parts in zip(*pieces, strict=True)]
    values = predict(*flat)
    bounds = np.cumsum([0] + [len(piece[0]) for piece in pieces])
    return [values[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def predict_grid(state: PairState, model: object, attach: object, sample: Sample,
                 campaign_ads: dict[str, np.ndarray], objectives: dict[str, int], max_k: int,
                 top_creatives: int, progress: Progress, decay: FrequencyDecay | None = None,
                 engine: str = "local", actors: int | None = None) -> CellValues:
    """Run the four stages of the module docstring, each as one batched prediction.

    Parameters
    ----------
    state, model, attach : the feature state, the response model and its text-feature hook.
    sample : sampled users per segment.
    campaign_ads : per campaign (in output order), row numbers of its ads in `state.ads`.
    objectives : per campaign, the index in `METRICS` of the metric its creative is chosen by.
    max_k : positions k = 1..max_k.
    top_creatives : candidates per campaign x segment kept after the screen.
    progress : counts predicted rows.
    decay : the fall with k read from the logs; None asks the model at every k.
    engine : where rows are scored: ``"local"``, ``"ray"`` (Ray Data actors) or ``"auto"``.
    actors : Ray Data scoring actors (None: one per cluster CPU).
    """
    if top_creatives < 1:
        raise InputError("curves", "top_creatives", f"must be >= 1, got {top_creatives}")
    if engine not in ENGINES:
        raise InputError("curves", "engine", f"must be one of {ENGINES}, got {engine!r}")
    predict = _Predictor(state, model, attach, progress, engine, actors)
    n_pl = len(state.placements)
    one, last, every = np.array([1]), np.array([max_k]), np.arange(1, max_k + 1)
    shape_users = [u[:m] for u, m in zip(sample.users, sample.shape, strict=True)]
    flat = np.concatenate(shape_users)
    bounds = np.r_[0, np.cumsum(sample.shape)]
    segs = [s for s in range(len(sample.segments)) if sample.shape[s] > 0]
    camps = list(campaign_ads)
    metric = {c: objectives[camp] for c, camp in enumerate(camps)}

    # 1. screen: every ad at k = 1 on all shape users
    all_ads = [(c, a) for c, camp in enumerate(camps) for a in campaign_ads[camp]]
    screened = _stage(predict, [_grid(flat, np.full(n_pl, a), n_pl, one) for _, a in all_ads])
    mean1: dict[tuple[int, int], np.ndarray] = {}  # (c, s) -> ads x placements
    for c in range(len(camps)):
        rows = [v[:, metric[c]].reshape(len(flat), n_pl)
                for (cc, _), v in zip(all_ads, screened, strict=True) if cc == c]
        for s in segs:
            mean1[(c, s)] = np.stack([r[bounds[s]:bounds[s + 1]].mean(axis=0) for r in rows])
    # 2. choose: the top candidates at k = max_k; trapezoid over k = 1 and max_k
    candidates = {key: np.argsort(-m1.sum(axis=1), kind="stable")[:top_creatives]
                  for key, m1 in mean1.items()}
    score = {key: mean1[key][order] for key, order in candidates.items()}
    if max_k > 1:  # the model's own value at max_k: choosing on k = 1 alone picked worse ads
        jobs = [(c, s, j, i) for (c, s), order in candidates.items() if len(order) > 1
                for j, i in enumerate(order)]
        pieces = [_grid(shape_users[s], np.full(n_pl, campaign_ads[camps[c]][i]), n_pl, last)
                  for c, s, _, i in jobs]
        for (c, s, j, _), v in zip(jobs, _stage(predict, pieces), strict=True):
            score[(c, s)][j] += v[:, metric[c]].reshape(-1, n_pl).mean(axis=0)
    # one creative per campaign x segment: the truth's best barely changes with the placement
    # (its effect is the same for every ad), while the model's per-placement picks are noisy
    chosen = {(c, s): np.full(n_pl, campaign_ads[camps[c]][
        candidates[(c, s)][np.argmax(score[(c, s)].sum(axis=1))]]) for (c, s) in candidates}
    # 3. the chosen creative at every k on the shape users; 4. k = 1 on the other users
    keys = list(chosen)
    if decay is not None:  # the screen already holds the shape users' k = 1 values
        screen = {(c, a): v.reshape(len(flat), n_pl, 3)
                  for (c, a), v in zip(all_ads, screened, strict=True)}
        shaped = [screen[(c, chosen[(c, s)][0])][bounds[s]:bounds[s + 1]][:, :, None, :]
                  for c, s in keys]
    else:
        shaped = [v.reshape(sample.shape[s], n_pl, max_k, 3) for (c, s), v in zip(
            keys, _stage(predict, [_grid(shape_users[s], chosen[(c, s)], n_pl, every)
                                   for c, s in keys]), strict=True)]
    rest_keys = [(c, s) for c, s in keys if len(sample.users[s]) > sample.shape[s]]
    rest = dict(zip(rest_keys, _stage(predict, [
        _grid(sample.users[s][sample.shape[s]:], chosen[(c, s)], n_pl, one)
        for c, s in rest_keys]), strict=True))
    # 5. the anchor: k = 1 on the further users, one placement each
    wide_keys = [(c, s) for c, s in keys if len(sample.wide[s])]
    pieces = []
    for c, s in wide_keys:
        users = sample.wide[s]
        places = anchor_placements(len(sample.users[s]), len(users), n_pl)
        pieces.append((users, chosen[(c, s)][places], places, np.ones(len(users), np.int64)))
    wide = dict(zip(wide_keys, _stage(predict, pieces), strict=True))
    out = CellValues(ads=chosen, first={}, shape={}, rows=predict.rows,
                     engines=sorted(predict.engines), wide=wide)
    for (c, s), vals in zip(keys, shaped, strict=True):
        first = vals[:, :, 0, :]
        if (c, s) in rest:
            first = np.concatenate([first, rest[(c, s)].reshape(-1, n_pl, 3)])
        out.first[(c, s)] = first
        # with the decay every sampled user is a shape user
        out.shape[(c, s)] = vals if decay is None else expand_k(first, decay, every)
    return out
