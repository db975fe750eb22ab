"""The hidden ground truth of a synthetic world: saved beside it, read back as an oracle.

`generate_world` writes ``out/truth/``:

- ``params.json``: world size, seed, start date, the subcategory tree, the
  response coefficients and fatigue function (see `adopt.synth.response`),
  and the logging policy (its parameters and a description);
- ``users.parquet``: per user the demographic click effect, expected daily
  impressions, latent interest per subcategory (``interest_<subcategory>``,
  in [0, 1], 1 = the user's top subcategory) and the logging policy's noisy
  category view (``policy_<category>``); in a world drawn with
  ``creative_audience`` also its ``age_band``;
- ``ads.parquet``: per ad its campaign, subcategory, top-level category,
  latent quality, price, expected order
  value and launch day (``days`` = never shown in the logs); in a world drawn with
  ``creative_audience`` also its appeal to each age band (``appeal_<band>``, quality
  it gains with that band's users);
- ``placements.parquet``: per placement its click effect, cpm, traffic share;
- ``campaigns.parquet``: per campaign its main category, objective, daily
  budget share and flight (first active day, first inactive day).

Plans are scored with `load_truth(world).expected(...)` (per impression) or
`Truth.true_curves(audiences)`, the oracle version of the response curves the
optimizer reads: for each campaign x segment x placement, the campaign's best
creative by true value (the plan's metric when given, else the campaign's own
objective's; clicks for reach; summed over k = 1..max_k so one creative serves
every k), and for each k the expected clicks, conversions and revenue of the
k-th impression per user, averaged over the segment's users. Evaluating a
plan's allocation on these curves gives its true expected value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from adopt.curves.build import DEFAULT_MAX_K
from adopt.exceptions import InputError, ParameterError, WorkspaceError
from adopt.synth import vocab
from adopt.synth.entities import World
from adopt.synth.response import ResponseParams, click_probability, p_conversion

APPEAL_PREFIX = "appeal_"  # truth/ads.parquet: a creative's appeal to each age band
_OBJECTIVE_METRIC = {"clicks": "clicks", "reach": "clicks", "conversions": "conversions",
                     "revenue": "revenue"}


def save_truth(world: World, folder: Path, start: str) -> None:
    """Write the hidden state of `world` to `folder` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    users = pd.DataFrame({"user_id": world.user_ids, "demo_effect": world.demo,
                          "activity": world.activity})
    appeal = {}
    if world.ad_appeal.any():  # only worlds drawn with creative_audience carry the columns
        users["age_band"] = np.array(vocab.AGE_BANDS)[world.age]
        appeal = {f"{APPEAL_PREFIX}{band}": world.ad_appeal[:, i]
                  for i, band in enumerate(vocab.AGE_BANDS)}
    interest = pd.DataFrame(world.interest, columns=[f"interest_{s}" for s in vocab.SUBCATEGORIES])
    policy = pd.DataFrame(world.policy_probs,
                          columns=[f"policy_{c}" for c in vocab.TOP_CATEGORIES])
    pd.concat([users, interest, policy], axis=1).to_parquet(folder / "users.parquet", index=False)
    order_value = world.ad_price * (1.0 + world.params.basket_extra)
    pd.DataFrame({
        "ad_id": world.ad_ids, "campaign_id": world.campaign_ids[world.ad_campaign],
        "subcategory": np.array(vocab.SUBCATEGORIES)[world.ad_subcategory],
        "category": np.array(vocab.TOP_CATEGORIES)[world.ad_category],
        "quality": world.ad_quality, "price": world.ad_price,
        "order_value": order_value,
        "launch_day": world.ad_launch, **appeal,
    }).to_parquet(folder / "ads.parquet", index=False)
    pd.DataFrame({"placement_id": world.placement_ids, "effect": world.placement_effect,
                  "cpm": world.cpm, "traffic_share": world.placement_share,
                  }).to_parquet(folder / "placements.parquet", index=False)
    pd.DataFrame({
        "campaign_id": world.campaign_ids,
        "category": np.array(vocab.TOP_CATEGORIES)[world.campaign_category],
        "objective": world.campaign_objective, "budget_share": world.campaign_weight,
        "start_day": world.campaign_start, "end_day": world.campaign_end,
    }).to_parquet(folder / "campaigns.parquet", index=False)
    info = {
        "seed": world.seed, "users": len(world.user_ids), "ads": len(world.ad_ids),
        "days": world.days, "start": start,
        "categories": {c: list(s) for c, s in vocab.CATEGORIES.items()},
        "response": world.params.to_dict(),
        "fatigue": world.params.describe_fatigue(),
        "logging_policy": {**vars(world.policy), "description": world.policy.describe()},
    }
    (folder / "params.json").write_text(json.dumps(info, indent=2, sort_keys=True))


def _indexer(index: pd.Index, values: object, table: str, column: str) -> np.ndarray:
    values = np.atleast_1d(np.asarray(values, dtype=object)).astype(str)
    idx = index.get_indexer(values)
    if (idx < 0).any():
        bad = int(np.flatnonzero(idx < 0)[0])
        problem = f"unknown id {str(values[bad])!r}: not in the world's truth"
        raise InputError(table, column, problem, row=bad + 1)
    return idx


@dataclass
class Truth:
    """Ground truth of a world, as an oracle for any impression or plan.

    Attributes
    ----------
    params : ResponseParams
        Response coefficients.
    info : dict
        Everything in truth/params.json.
    users, ads, placements, campaigns : pandas.DataFrame
        The truth tables, indexed by their id.
    """

    params: ResponseParams
    info: dict
    users: pd.DataFrame
    ads: pd.DataFrame
    placements: pd.DataFrame
    campaigns: pd.DataFrame

    def __post_init__(self) -> None:
        cols = [f"interest_{s}" for s in vocab.SUBCATEGORIES]
        self._interest = self.users[cols].to_numpy(np.float64)
        self._sub = pd.Index(vocab.SUBCATEGORIES).get_indexer(self.ads["subcategory"])
        cols = [f"{APPEAL_PREFIX}{band}" for band in vocab.AGE_BANDS]
        has_appeal = set(cols) <= set(self.ads.columns) and "age_band" in self.users.columns
        self._appeal = self.ads[cols].to_numpy(np.float64) if has_appeal else None
        self._age = pd.Index(vocab.AGE_BANDS).get_indexer(self.users["age_band"]) \
            if has_appeal else None

    def appeal(self, users: np.ndarray, ads: np.ndarray) -> np.ndarray | float:
        """Quality creative ``ads`` gains with the age band of ``users`` (positions in the
        users' and ads' tables; ``ResponseParams.creative_audience``): 0 in a world without."""
        if self._appeal is None:
            return 0.0
        return self._appeal[ads, self._age[users]]

    def expected(self, user_ids: object, ad_ids: object, placement_ids: object,
                 k: object = 1) -> pd.DataFrame:
        """True expected outcome of single impressions (arrays of the same length).

        Parameters
        ----------
        user_ids, ad_ids, placement_ids : array-like of str
            Who sees which ad where.
        k : int or array-like of int
            Position of each impression in its user x campaign sequence (1 = first).

        Returns
        -------
        pandas.DataFrame
            One row per impression: `p_click` (= expected clicks),
            `p_conversion_given_click`, `p_conversion` (unconditional = expected
            conversions) and `expected_revenue`.
        """
        u = _indexer(self.users.index, user_ids, "users", "user_id")
        a = _indexer(self.ads.index, ad_ids, "ads", "ad_id")
        p = _indexer(self.placements.index, placement_ids, "placements", "placement_id")
        u, a, p, k = np.broadcast_arrays(u, a, p, np.asarray(k, dtype=np.int64))
        if (k < 1).any():
            raise InputError("expected", "k", "frequency positions start at 1",
                             row=int(np.flatnonzero(k < 1)[0]) + 1)
        interest = self._interest[u, self._sub[a]]
        quality = self.ads["quality"].to_numpy()[a] + self.appeal(u, a)
        logit = (self.params.b0 + self.params.b_match * interest + quality
                 + self.users["demo_effect"].to_numpy()[u]
                 + self.placements["effect"].to_numpy()[p])
        click = click_probability(logit, k, self.params)
        conv_click = p_conversion(interest, quality, self.ads["price"].to_numpy()[a],
                                  self.params, self.placements["effect"].to_numpy()[p])
        conv = click * conv_click
        return pd.DataFrame({"p_click": click, "p_conversion_given_click": conv_click,
                             "p_conversion": conv,
                             "expected_revenue": conv * self.ads["order_value"].to_numpy()[a]})

    def true_curves(self, audiences: pd.DataFrame, max_k: int = DEFAULT_MAX_K,
                    ads: object | None = None,
                    quality: pd.DataFrame | None = None,
                    metric: str | None = None) -> pd.DataFrame:
        """The oracle response curves per campaign x segment x placement x k.

        Parameters
        ----------
        audiences : pandas.DataFrame
            Columns `user_id` and `segment` (a user may sit in several segments).
        max_k : int
            Curves run over k = 1..max_k.
        ads : array-like of str, optional
            Creatives a campaign may use (default: all of its ads).
        quality : pandas.DataFrame, optional
            Equally weighted values of each creative's latent quality (index
            ad_id, one column per value, e.g. `adopt.synth.posterior`'s draws):
            each creative's curves are their mean, and its best-creative choice
            is made on that mean. Default: the creative's own quality.
        metric : str, optional
            The metric the best creative is chosen by (clicks, conversions, revenue; reach
            counts clicks), as a plan with that objective would choose it. Default: each
            campaign's own objective.

        Returns
        -------
        pandas.DataFrame
            Columns campaign_id, segment, placement_id, k, users (segment size),
            cost_per_impression, clicks, conversions, revenue (expected per user
            for the k-th impression, averaged over the segment) and ad_id (the
            campaign's best creative for that segment and placement).
        """
        if max_k < 1:
            raise ParameterError(
                "The 'max_k' parameter of Truth.true_curves must be at least 1. "
                f"Got {max_k} instead."
            )
        if metric is not None and metric not in _OBJECTIVE_METRIC:
            raise ParameterError(
                "The 'metric' parameter of Truth.true_curves must be one of "
                f"{sorted(_OBJECTIVE_METRIC)} or None. Got {metric!r} instead.")
        missing = {"user_id", "segment"} - set(audiences.columns)
        if missing:
            raise InputError("audiences", sorted(missing)[0], "required column is missing")
        aud = audiences[["user_id", "segment"]].drop_duplicates()
        if aud.empty:
            raise InputError("audiences", None, "no rows: give at least one user in a segment")
        uidx = _indexer(self.users.index, aud["user_id"], "audiences", "user_id")
        seg_code, segments = pd.factorize(aud["segment"], sort=True)
        n_seg = len(segments)
        indicator = sp.csr_matrix((np.ones(len(uidx)), (seg_code, np.arange(len(uidx)))),
                                  shape=(n_seg, len(uidx)))
        size = np.bincount(seg_code, minlength=n_seg).astype(np.float64)
        ks = np.arange(1, max_k + 1)
        eff = self.placements["effect"].to_numpy()
        # columns placement x k: the logit's constant part and each column's position
        const = np.repeat(self.params.b0 + eff, max_k)
        col_k = np.tile(ks, len(eff))
        # each column's placement, as its clickers' conversions per click read it
        col_effect = np.repeat(eff, max_k)[None, :] if self.params.c_placement else 0.0
        shape = (n_seg, len(eff), max_k)

        ad_table = self.ads if ads is None else self.ads.loc[
            self.ads.index[_indexer(self.ads.index, ads, "ads", "ad_id")]]
        if ad_table.empty:
            raise InputError("true_curves", "ads", "no creative to score: give at least one ad")
        demo = self.users["demo_effect"].to_numpy()[uidx]
        per_ad: dict[str, dict[str, np.ndarray]] = {}
        block = max(1, 4_000_000 // len(const))  # users per block: bounds the n x (P*K) matrix
        for ad_id, row in ad_table.iterrows():
            position = self.ads.index.get_loc(ad_id)
            sub = self._sub[position]
            interest = self._interest[uidx, sub]
            appeal = np.broadcast_to(self.appeal(uidx, np.full(len(uidx), position)), len(uidx))
            values = [row["quality"]] if quality is None else \
                quality.loc[ad_id].to_numpy(np.float64)
            clicks = np.zeros((n_seg, len(const)))
            convs = np.zeros((n_seg, len(const)))
            for q in values:
                x = self.params.b_match * interest + q + appeal + demo
                for lo in range(0, len(uidx), block):
                    hi = min(lo + block, len(uidx))
                    p = click_probability(x[lo:hi, None] + const[None, :], col_k[None, :],
                                          self.params)
                    pcc = p_conversion(interest[lo:hi, None], q + appeal[lo:hi, None],
                                       row["price"], self.params, col_effect)
                    clicks += indicator[:, lo:hi] @ p
                    convs += indicator[:, lo:hi] @ (p * pcc)
            clicks /= size[:, None] * len(values)
            convs /= size[:, None] * len(values)
            per_ad[ad_id] = {"clicks": clicks.reshape(shape), "conversions": convs.reshape(shape),
                             "revenue": (convs * row["order_value"]).reshape(shape)}
        return self._assemble(per_ad, ad_table, segments, size, ks, metric)

    def _assemble(self, per_ad: dict[str, dict[str, np.ndarray]], ad_table: pd.DataFrame,
                  segments: pd.Index, size: np.ndarray, ks: np.ndarray,
                  chosen_by: str | None) -> pd.DataFrame:
        n_seg, n_pl, max_k = len(segments), len(self.placements), len(ks)
        frames = []
        for camp, group in ad_table.groupby("campaign_id", sort=True):
            metric = _OBJECTIVE_METRIC[chosen_by or self.campaigns.loc[camp, "objective"]]
            ids = list(group.index)
            value = np.stack([per_ad[a][metric].sum(axis=2) for a in ids])  # ads x seg x pl
            best = value.argmax(axis=0)
            out = {}
            for m in ("clicks", "conversions", "revenue"):
                stacked = np.stack([per_ad[a][m] for a in ids])
                out[m] = np.take_along_axis(stacked, best[None, :, :, None], axis=0)[0].ravel()
            frames.append(pd.DataFrame({
                "campaign_id": camp,
                "segment": np.repeat(segments.to_numpy(), n_pl * max_k),
                "placement_id": np.tile(np.repeat(self.placements.index.to_numpy(), max_k),
                                        n_seg),
                "k": np.tile(ks, n_seg * n_pl),
                "users": np.repeat(size.astype(np.int64), n_pl * max_k),
                "cost_per_impression": np.tile(
                    np.repeat(self.placements["cpm"].to_numpy() / 1000.0, max_k), n_seg),
                **out,
                "ad_id": np.repeat(np.array(ids)[best].ravel(), max_k),
            }))
        return pd.concat(frames, ignore_index=True)


def load_truth(world_dir: str | Path) -> Truth:
    """Read the ground truth that `generate_world` wrote under `world_dir/truth/`.

    Raises
    ------
    WorkspaceError
        When `world_dir/truth/params.json` does not exist.
    """
    folder = Path(world_dir) / "truth"
    if not (folder / "params.json").exists():
        raise WorkspaceError(f"{folder / 'params.json'} not found: world_dir must be a folder "
                             "written by adopt.synth.generate_world")
    info = json.loads((folder / "params.json").read_text())
    return Truth(
        params=ResponseParams.from_dict(info["response"]), info=info,
        users=pd.read_parquet(folder / "users.parquet").set_index("user_id"),
        ads=pd.read_parquet(folder / "ads.parquet").set_index("ad_id"),
        placements=pd.read_parquet(folder / "placements.parquet").set_index("placement_id"),
        campaigns=pd.read_parquet(folder / "campaigns.parquet").set_index("campaign_id"),
    )
