"""Random curve tables with a realistic shape, for tests, benchmarks and demos.

Data flow: stands in for the curve stage. Values of the k-th impression decay
geometrically in k (diminishing returns); costs per impression vary by
placement and, a little, by k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_curves(
    segments: int = 20,
    placements: int = 4,
    positions: int = 3,
    campaigns: int = 1,
    seed: int = 0,
    cost_by_k: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A curves table and a placements table (placement_id, inventory).

    Parameters
    ----------
    segments, placements, positions, campaigns : int
        Grid size: rows = campaigns x segments x placements x positions.
    seed : int
        Seed of the generator.
    cost_by_k : bool
        Let the cost per impression change with k (else equal across k).

    Returns
    -------
    curves, placements : DataFrame
    """
    rng = np.random.default_rng(seed)
    c, s, p, k = np.meshgrid(
        np.arange(campaigns), np.arange(segments), np.arange(placements),
        np.arange(1, positions + 1), indexing="ij",
    )
    c, s, p, k = c.ravel(), s.ravel(), p.ravel(), k.ravel()
    seg_size = rng.integers(1_000, 50_000, segments)
    reach_share = rng.uniform(0.2, 1.0, (segments, placements))
    users = np.round(seg_size[s] * reach_share[s, p])
    cpm = rng.uniform(2.0, 12.0, placements)
    affinity = rng.lognormal(0.0, 0.5, (campaigns, segments, placements))
    decay = rng.uniform(0.4, 0.8, (campaigns, segments, placements))
    ctr = 0.01 * affinity[c, s, p] * decay[c, s, p] ** (k - 1)
    cvr = rng.uniform(0.02, 0.08, campaigns)[c]
    aov = rng.uniform(20.0, 80.0, segments)[s]
    cpi = cpm[p] / 1000 * (1 + (0.05 * (k - 1) * rng.uniform(-1, 1, k.size) if cost_by_k else 0))
    curves = pd.DataFrame({
        "campaign_id": np.char.add("c", c.astype(str)),
        "segment": np.char.add("s", s.astype(str)),
        "placement_id": np.char.add("p", p.astype(str)),
        "k": k,
        "users": users,
        "cost_per_impression": cpi,
        "clicks": ctr,
        "conversions": ctr * cvr,
        "revenue": ctr * cvr * aov,
    })
    per_placement = np.bincount(p, weights=users, minlength=placements) / max(positions, 1)
    inv = rng.uniform(0.5, 1.5, placements) * per_placement
    table = pd.DataFrame({"placement_id": [f"p{i}" for i in range(placements)], "inventory": inv})
    return curves, table
