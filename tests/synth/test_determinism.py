"""Same seed, same world; chunking changes files, not contents; bad sizes are refused."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from adopt.cli import main
from adopt.exceptions import ParameterError
from adopt.synth import (
    DEMO_ADS,
    DEMO_DAYS,
    DEMO_USERS,
    WorldSummary,
    generate_world,
    load_truth,
)

TINY = {"users": 400, "ads": 20, "days": 6}  # the sizes of the tiny_world fixture (seed 3)


def _tables(world: Path) -> dict[str, object]:
    """Every table of a world (truth included) and params.json, by relative path."""
    out: dict[str, object] = {}
    for path in sorted(world.rglob("*.parquet")):
        rel = path.relative_to(world)
        name = str(rel.parent if rel.name.startswith("part-") else rel)
        out.setdefault(name, []).append(pq.read_table(path))
    tables = {name: pa.concat_tables(parts).combine_chunks() for name, parts in out.items()}
    tables["params.json"] = (world / "truth" / "params.json").read_text()
    return tables


def test_same_seed_same_contents(tiny_world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path, seed=3, show_progress=False, **TINY)
    first, again = _tables(tiny_world), _tables(tmp_path)
    assert first.keys() == again.keys()
    assert {"users.parquet", "events", "behaviors", "truth/users.parquet"} <= set(first)
    for name in first:
        assert first[name] == again[name], name


def test_different_seeds_differ(tiny_world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path, seed=4, show_progress=False, **TINY)
    first, other = _tables(tiny_world), _tables(tmp_path)
    for name in ("users.parquet", "ads.parquet", "events", "behaviors", "truth/users.parquet"):
        assert first[name] != other[name], name


def test_part_files_bound_rows_and_keep_contents(tiny_world: Path, tmp_path: Path) -> None:
    part_rows = 600
    generate_world(tmp_path, seed=3, part_rows=part_rows, show_progress=False, **TINY)
    whole, parted = _tables(tiny_world), _tables(tmp_path)
    assert len(list((tiny_world / "events").iterdir())) == 1
    for table in ("events", "behaviors"):
        assert whole[table] == parted[table], table
        parts = sorted((tmp_path / table).glob("part-*.parquet"))
        rows = [pq.read_metadata(p).num_rows for p in parts]
        assert len(parts) >= 3, table
        # a part is flushed as soon as it reaches part_rows: at most one day over
        max_day = 3 * whole[table].num_rows / TINY["days"]
        assert all(r < part_rows + max_day for r in rows), rows
        assert sum(rows) == whole[table].num_rows


def test_rerun_replaces_world_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    generate_world(tmp_path, seed=1, part_rows=2_000, show_progress=False, **TINY)
    many = len(list((tmp_path / "events").iterdir()))
    generate_world(tmp_path, seed=1, show_progress=False, **TINY)
    assert many > 1 and len(list((tmp_path / "events").iterdir())) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".generating-*"))


@pytest.mark.parametrize(("arg", "value"), [("users", 0), ("ads", 1), ("days", -3),
                                            ("part_rows", 0), ("users", 2.5)])
def test_bad_sizes_are_refused(tmp_path: Path, arg: str, value: object) -> None:
    kwargs = {**TINY, arg: value}
    expected = f"The '{arg}' parameter of generate_world must be an integer"
    with pytest.raises(ParameterError, match=expected):
        generate_world(tmp_path, show_progress=False, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("seed", range(4))
def test_smallest_worlds(tmp_path: Path, seed: int) -> None:
    summary = generate_world(tmp_path, users=3, ads=2, days=2, seed=seed, show_progress=False)
    assert summary.rows["ads"] == 2 and summary.rows["campaigns"] == 1
    assert pq.read_table(tmp_path / "events").schema.names[:5] == [
        "ts", "user_id", "ad_id", "placement_id", "event"]


def test_summary_of_a_small_world(tmp_path: Path) -> None:
    summary = generate_world(tmp_path, users=DEMO_USERS // 10, ads=DEMO_ADS // 4,
                             days=DEMO_DAYS // 4, show_progress=False)
    assert isinstance(summary, WorldSummary)
    text = str(summary)
    assert str(tmp_path.resolve()) in text and "CTR" in text and "CVR" in text
    assert f"events {summary.rows['events']:,}" in text
    assert summary.rows["events"] == summary.impressions + summary.clicks + summary.conversions
    assert summary.rows["users"] == DEMO_USERS // 10
    assert pq.read_metadata(tmp_path / "users.parquet").num_rows == DEMO_USERS // 10


def test_demo_world_size(demo_world: Path) -> None:
    n = duckdb.execute(
        "select count(*) from read_parquet($p) where event = 'impression'",
        {"p": str(demo_world / "events" / "*.parquet")},
    ).fetchone()[0]
    assert 300_000 <= n <= 550_000  # 6,000 users x 1.2 impressions a day x 56 days


def test_geometric_fatigue_changes_only_the_clicks(tiny_world: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(v) for kv in TINY.items() for v in (f"--{kv[0]}", kv[1])]
    logger = logging.getLogger("adopt")
    saved = logger.handlers[:]  # main() attaches a handler to this test's stderr
    try:
        assert main(["generate", "--out", str(tmp_path), "--seed", "3", *args,
                     "--fatigue", "geometric", "--fatigue-rate", "0.6"]) == 0
    finally:
        logger.handlers[:] = saved
    assert "synthetic world" in capsys.readouterr().out
    first, geo = _tables(tiny_world), _tables(tmp_path)
    for name in ("users.parquet", "ads.parquet", "behaviors", "truth/users.parquet"):
        assert first[name] == geo[name], name
    impressions = [t.filter(pc.equal(t["event"], "impression"))
                   for t in (first["events"], geo["events"])]
    assert impressions[0] == impressions[1]  # the same draws; only the click chances differ
    assert first["events"] != geo["events"]
    assert '"fatigue_form": "geometric"' in geo["params.json"]
    assert "fatigue_rate ** (k - 1)" in geo["params.json"]
    assert '"fatigue_form": "logit"' in first["params.json"]


def _only_conversions_differ(events: pa.Table, other: pa.Table) -> None:
    """The same impressions and clicks, other conversions."""
    kept = [t.filter(pc.invert(pc.equal(t["event"], "conversion"))) for t in (events, other)]
    assert kept[0] == kept[1]
    assert events != other


def test_conversion_quality_changes_only_the_conversions(tiny_world: Path,
                                                        tmp_path: Path) -> None:
    # a world where the quality that draws clicks does not convert them: the same users,
    # ads, impressions and clicks, other conversions, and the truth says so
    generate_world(tmp_path, seed=3, show_progress=False, conversion_quality=0.0, **TINY)
    first, flat = _tables(tiny_world), _tables(tmp_path)
    for name in ("users.parquet", "ads.parquet", "behaviors", "truth/ads.parquet"):
        assert first[name] == flat[name], name
    _only_conversions_differ(first["events"], flat["events"])
    assert '"c_quality": 0.0' in flat["params.json"]
    assert '"c_quality": 0.8' in first["params.json"]


def test_placement_conversion_changes_only_the_conversions(tiny_world: Path,
                                                          tmp_path: Path) -> None:
    # a world where a search result's clickers, who click more, also buy more: the same
    # impressions and clicks, other conversions, and the truth's conversions per click
    # move with the placement by c_placement times its click effect
    generate_world(tmp_path, seed=3, show_progress=False, placement_conversion=1.0, **TINY)
    first, moved = _tables(tiny_world), _tables(tmp_path)
    _only_conversions_differ(first["events"], moved["events"])
    assert '"c_placement": 1.0' in moved["params.json"]
    assert '"c_placement": 0.0' in first["params.json"]
    truth = load_truth(tmp_path)
    effect = truth.placements["effect"]
    user, ad = truth.users.index[0], truth.ads.index[0]
    out = truth.expected([user] * 2, [ad] * 2, ["search_top", "home_banner"], [1, 1])
    p = out["p_conversion_given_click"].to_numpy()
    logits = np.log(p / (1 - p))
    assert logits[0] - logits[1] == pytest.approx(effect["search_top"] - effect["home_banner"])
    flat = load_truth(tiny_world).expected([user] * 2, [ad] * 2,
                                           ["search_top", "home_banner"], [1, 1])
    assert flat["p_conversion_given_click"].nunique() == 1


def test_campaign_quality_is_shared_by_a_campaigns_creatives(tiny_world: Path,
                                                             tmp_path: Path) -> None:
    # a brand's appeal: every creative of a campaign gains the same latent quality, drawn
    # from a stream of its own, so the rest of the world is drawn as without it
    generate_world(tmp_path, seed=3, show_progress=False, campaign_quality=1.0, **TINY)
    first, shared = _tables(tiny_world), _tables(tmp_path)
    assert first["users.parquet"] == shared["users.parquet"]
    assert first["ads.parquet"] == shared["ads.parquet"]
    assert '"campaign_quality": 1.0' in shared["params.json"]
    assert '"campaign_quality": 0.0' in first["params.json"]
    before, after = load_truth(tiny_world).ads, load_truth(tmp_path).ads
    gain = (after["quality"] - before["quality"]).groupby(after["campaign_id"])
    assert (gain.max() - gain.min()).max() == pytest.approx(0.0, abs=1e-12)
    assert gain.first().std() > 0.3
    assert first["events"] != shared["events"]


def test_creative_audience_gives_each_creative_an_appeal_by_age_band(tiny_world: Path,
                                                                     tmp_path: Path) -> None:
    # its own stream: the public tables are drawn as without it, the logs are not
    generate_world(tmp_path, seed=3, show_progress=False, creative_audience=1.0, **TINY)
    first, appealing = _tables(tiny_world), _tables(tmp_path)
    for name in ("users.parquet", "ads.parquet", "placements.parquet", "campaigns.parquet"):
        assert first[name] == appealing[name]
    assert '"creative_audience": 1.0' in appealing["params.json"]
    assert first["events"] != appealing["events"]
    plain, truth = load_truth(tiny_world), load_truth(tmp_path)
    assert plain.ads["quality"].equals(truth.ads["quality"])
    bands = ["18-24", "25-34", "35-44", "45-54", "55+"]
    appeal = truth.ads[[f"appeal_{b}" for b in bands]]
    assert 0.7 < appeal.to_numpy().std() < 1.3
    # every user x creative: the click logit gains the creative's appeal to the user's band
    users = np.repeat(truth.users.index.to_numpy(), len(truth.ads))
    ads = np.tile(truth.ads.index.to_numpy(), len(truth.users))
    placements = np.full(len(users), truth.placements.index[0])
    gain = (_logit(truth.expected(users, ads, placements)["p_click"])
            - _logit(plain.expected(users, ads, placements)["p_click"]))
    band = truth.users["age_band"].reindex(users).to_numpy()
    want = appeal.to_numpy()[truth.ads.index.get_indexer(ads), [bands.index(b) for b in band]]
    assert np.allclose(gain, want, atol=1e-6)
    # and the segment curves are those impressions' means
    audiences = pd.DataFrame({"user_id": truth.users.index,
                              "segment": np.where(truth.users["age_band"] == "55+", "old", "rest")})
    ad = truth.ads.index[0]
    curves = truth.true_curves(audiences, 1, ads=[ad])
    for segment, group in audiences.groupby("segment"):
        rows = truth.expected(group["user_id"], np.full(len(group), ad), placements[:len(group)])
        cell = curves.loc[(curves["segment"] == segment)
                          & (curves["placement_id"] == placements[0])]
        assert cell["clicks"].iloc[0] == pytest.approx(rows["p_click"].mean(), rel=1e-9)
        assert cell["conversions"].iloc[0] == pytest.approx(rows["p_conversion"].mean(),
                                                            rel=1e-9)


def _logit(p: pd.Series) -> np.ndarray:
    p = p.to_numpy(np.float64)
    return np.log(p / (1 - p))


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"creative_audience": -0.1},
     r"The 'creative_audience' parameter of generate_world must be a number in \[0, 5\]"),
    ({"campaign_quality": -0.1},
     r"The 'campaign_quality' parameter of generate_world must be a number in \[0, 5\]"),
    ({"placement_conversion": "1"},
     r"The 'placement_conversion' parameter of generate_world must be a number in \[-5, 5\]"),
    ({"conversion_quality": float("nan")},
     r"The 'conversion_quality' parameter of generate_world must be a number in \[-5, 5\]"),
    ({"fatigue": "linear"}, "The 'fatigue' parameter of generate_world must be one of"),
    ({"fatigue": "geometric", "fatigue_rate": 1.5},
     r"The 'fatigue_rate' parameter of generate_world must be a number in \(0, 1\]"),
])
def test_bad_fatigue_is_refused(tmp_path: Path, kwargs: dict, expected: str) -> None:
    with pytest.raises(ParameterError, match=expected):
        generate_world(tmp_path, show_progress=False, **TINY, **kwargs)
