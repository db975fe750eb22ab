"""The curves' k = 1 level reconciled with the model at each logged impression's own k.

Data flow: the logged rows of ``training_examples`` (k within the curves' depth, every
n-th in the logs' fixed order, at most `ANCHOR_ROWS`) -> the curves' model at each row's
own k, and at k = 1 carried to the row's k by the fall read within user x campaign pairs
(`adopt.curves.frequency`) -> `anchor_fall`: the click-logit intercept with which the
second sums to the first -> `adopt.curves.calibrate.recalibrate` applies it to every
sampled user's k = 1 values before the curves average them; curves.json and the plan's
assumptions say it.

Why: a curve is the model's k = 1 value carried by the within-pair fall. The model reads
k as well, learnt from logs where the users a campaign reaches again and again are those
who like it most (the serving policy repeats what works), more than the user features
show: its own fall comes out flatter than the within-pair one, and since it is fitted to
the logged rows at their own k, its k = 1 comes out low. On eight generated worlds the
curves' model at k = 1 on the logged rows read 0.92-1.00 of the truth's clicks while at
the rows' own k it read 0.98-1.01; the construction read 0.91-0.98, and the forecasts of
the worlds where it read lowest under-promised most (docs/curves.md, session 30). No
outcome enters: the intercept is fitted to the model's own predictions, which carry no
luck of the logs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from adopt.curves.creatives import BATCH_ROWS, shift_logit
from adopt.curves.frequency import FrequencyDecay
from adopt.progress import Progress
from adopt.warehouse import examples_order, fetch_batches
from adopt.workspace import PROFILES_HINT, Workspace

log = logging.getLogger("adopt")

ANCHOR_ROWS = 200_000  # the most logged rows predicted (twice); every n-th beyond
INTERCEPT_BOUND = 3.0  # on the click logit; the fit never nears it on generated worlds

_ROWS_SQL = """
select * exclude (rn) from (
    select *, row_number() over (order by {order}) as rn
    from training_examples where k_campaign <= $max_k
) where rn % $step = 0
order by rn
"""


@dataclass(frozen=True)
class FallAnchor:
    """The click-logit intercept that makes the curves' construction give the model's clicks.

    ``click_rate`` and ``conversion_factor`` are what `recalibrate` applies; conversions
    per click are left as they are (the conversion model does not read k).
    """

    impressions: int
    model_clicks: float
    construction_clicks: float
    intercept: float
    conversion_factor: float = 1.0

    def click_rate(self, p: np.ndarray) -> np.ndarray:
        """The k = 1 click rates moved by the intercept on the logit."""
        return shift_logit(p, self.intercept)

    def __str__(self) -> str:
        return (f"k = 1 click logit {self.intercept:+.3f}: on {self.impressions:,} logged "
                f"impressions the model at each one's own k gave {self.model_clicks:,.1f} "
                f"clicks where its k = 1 carried by the fall with k gave "
                f"{self.construction_clicks:,.1f}")


def anchor_fall(workspace: str | os.PathLike[str], model: Any, attach: Any,
                decay: FrequencyDecay, max_k: int, max_rows: int = ANCHOR_ROWS
                ) -> FallAnchor | None:
    """Fit the intercept on the logged rows (module docstring); None when none are logged.

    Parameters
    ----------
    workspace : path
        A workspace with ``training_examples``.
    model, attach : the curves' response model (with the creatives' effects) and its
        text-feature hook.
    decay : the fall with k the curves carry k = 1 by.
    max_k : the curves' depth: rows beyond it are not read.
    max_rows : the most rows read; every n-th row of the logs' order beyond.
    """
    ws = Workspace.of(workspace)
    with ws.connect(read_only=True) as con:
        ws.require("training_examples", PROFILES_HINT, con)
        total = con.execute("select count(*) from training_examples where k_campaign <= $k",
                            {"k": int(max_k)}).fetchone()[0]
        if not total:
            return None
        step = max(1, -(-int(total) // int(max_rows)))
        con.execute(_ROWS_SQL.format(order=examples_order(con)),
                    {"max_k": int(max_k), "step": step})
        own, first, k = [], [], []
        with Progress(int(total) // step, "curves: the fall's anchor", unit="rows") as bar:
            for rows in fetch_batches(con, BATCH_ROWS):
                rows = attach(rows) if attach is not None else rows
                own.append(model.predict(rows)["p_click"].to_numpy(float))
                first.append(model.predict(_at_first(rows))["p_click"].to_numpy(float))
                k.append(rows["k_campaign"].to_numpy(np.int64))
                bar.update(len(rows))
    ks = np.concatenate(k)
    z = logit(np.clip(np.concatenate(first), 1e-12, 1 - 1e-12)) - decay.penalty(ks)
    target = float(np.concatenate(own).sum())

    def construction(intercept: float) -> float:
        return float(expit(z + intercept).sum())

    before = construction(0.0)
    if target <= 0 or before <= 0:
        return None
    intercept = brentq(lambda d: construction(d) - target, -INTERCEPT_BOUND, INTERCEPT_BOUND) \
        if construction(-INTERCEPT_BOUND) < target < construction(INTERCEPT_BOUND) \
        else float(np.sign(target - before) * INTERCEPT_BOUND)
    out = FallAnchor(impressions=len(ks), model_clicks=target, construction_clicks=before,
                     intercept=float(intercept))
    log.info("curves: %s", out)
    return out


def _at_first(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as the user's first impression of the campaign (and of the ad)."""
    return rows.assign(**{c: 1 for c in ("k_ad", "k_campaign") if c in rows.columns})
