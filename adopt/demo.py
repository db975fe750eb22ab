"""`adopt demo`: generate the demo world and run every stage that exists on it.

The demo is the main job on the embedded default: it writes the world under
``<workspace>/world`` (input files + truth/), ingests it, builds the SQL
profiles and embeds the texts, then prints the key figures and where the
outputs are. Each later stage adds itself here as it lands.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from adopt.workspace import Workspace

log = logging.getLogger("adopt")


def run_demo(
    workspace: str | Path,
    *,
    users: int,
    ads: int,
    days: int,
    seed: int = 0,
    embed: bool = True,
) -> dict[str, object]:
    """Run the demo pipeline end to end and return its key figures.

    Parameters
    ----------
    workspace : path
        Workspace folder; created if missing. A previous demo world in it is
        replaced, the warehouse is rebuilt from scratch.
    users, ads, days, seed : int
        Size and seed of the synthetic world.
    embed : bool
        Also run the BERT embedding stage (on a local Ray).
    """
    from adopt.ingest import ingest
    from adopt.profiles import build_profiles
    from adopt.synth import generate_world

    ws = Workspace(workspace).ensure()
    figures: dict[str, object] = {}
    started = time.perf_counter()

    world = ws.root / "world"
    if world.exists():
        shutil.rmtree(world)
    # A demo always starts from an empty warehouse so its figures are its own.
    ws.warehouse.unlink(missing_ok=True)

    _step("generate the demo world")
    summary = generate_world(world, users=users, ads=ads, days=days, seed=seed)
    print(summary)

    _step("ingest")
    print(ingest(world, ws.root))

    _step("profiles (DuckDB SQL)")
    print(build_profiles(ws.root))

    if embed:
        _step("embeddings (BERT on Ray Data)")
        from adopt.embeddings import embed_workspace

        print(embed_workspace(ws.root))

    figures["seconds"] = round(time.perf_counter() - started, 1)
    _step("done")
    print(f"workspace:  {ws.root}")
    print(f"world:      {world} (ground truth in {world / 'truth'})")
    print(f"warehouse:  {ws.warehouse}")
    print(f"total time: {figures['seconds']} s")
    return figures


def _step(name: str) -> None:
    print(f"\n== {name}", flush=True)
