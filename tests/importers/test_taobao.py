"""Taobao importer: the publisher's four files and the joined FuxiCTR layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from adopt.exceptions import InputError, ParameterError
from adopt.importers import DEFAULT_CPM, import_dataset
from adopt.importers.taobao import BTAG_ACTIONS

RAW = [
    "user,time_stamp,adgroup_id,pid,nonclk,clk",
    "581738,1494137644,1,430548_1007,1,0",
    "581738,1494137700,2,430539_1007,0,1",
    "449818,1494638778,3,430548_1007,1,0",
    "900001,1494638800,9,430548_1007,1,0",  # ad 9 has no ad_feature row
]
ADS = [
    "adgroup_id,cate_id,campaign_id,customer,brand,price",
    "1,6406,83237,1,95471,170.0",
    "2,1326,83237,1,NULL,9.5",
    "3,4520,7,44,22,1500",
    "4,4520,8,44,23,60",  # never shown: still an ad
]
PROFILE = [
    # The publisher's header ends with a space.
    "userid,cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,"
    "occupation,new_user_class_level ",
    "581738,0,5,2,5,,3,0,3",
    "12345,0,1,1,2,1,2,1,",  # a profile with no impression: still a user
]
BEHAVIOR = [
    "user,time_stamp,btag,cate,brand",
    "581738,1493741625,pv,6406,95471",
    "581738,1493741626,cart,6406,NULL",
    "449818,1493741627,fav,4520,22",
    "12345,1493741628,buy,1326,1",
    "777777,1493741629,pv,1,1",  # user in no other file: dropped
]


def _ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


@pytest.fixture
def taobao(tmp_path: Path, lines) -> Path:
    src = tmp_path / "taobao"
    lines(src / "raw_sample.csv", RAW)
    lines(src / "ad_feature.csv", ADS)
    lines(src / "user_profile.csv", PROFILE)
    lines(src / "behavior_log.csv", BEHAVIOR)
    return src


def test_raw_layout_row_by_row(taobao: Path, tmp_path: Path, contract, table) -> None:
    out = tmp_path / "out"
    summary = import_dataset("taobao", taobao, out, cpm=4.0)
    assert contract(out) == summary.rows
    events = table(out, "events", "impression_id, event desc")
    assert [(e["impression_id"], e["event"], e["user_id"], e["ad_id"]) for e in events] == [
        ("1", "impression", "581738", "1"),
        ("2", "impression", "581738", "2"),
        ("2", "click", "581738", "2"),
        ("3", "impression", "449818", "3"),
    ]
    assert events[0]["ts"] == _ts(1494137644)
    assert events[1]["placement_id"] == "430539_1007"
    assert {e["cost"] for e in events} == {0.004}
    assert summary.dropped[0] == (1, "impressions whose adgroup_id has no ad_feature row")

    ads = {a["ad_id"]: a for a in table(out, "ads")}
    assert ads["1"]["title"] == "Taobao ad: category 6406, brand 95471, price 100-500"
    assert ads["2"]["title"] == "Taobao ad: category 1326, price under 10"
    assert ads["2"]["brand"] is None
    assert ads["3"]["title"].endswith("price over 1000")
    assert (ads["3"]["campaign_id"], ads["3"]["advertiser"], ads["3"]["price"]) == ("7", "44", 1500)
    assert set(ads) == {"1", "2", "3", "4"}
    assert table(out, "campaigns") == [
        {"campaign_id": "7", "advertiser": "44"},
        {"campaign_id": "8", "advertiser": "44"},
        {"campaign_id": "83237", "advertiser": "1"},
    ]
    assert table(out, "placements") == [
        {"placement_id": "430539_1007", "cpm": 4.0, "name": "430539_1007"},
        {"placement_id": "430548_1007", "cpm": 4.0, "name": "430548_1007"},
    ]


def test_users_and_behaviours(taobao: Path, tmp_path: Path, table) -> None:
    out = tmp_path / "out"
    summary = import_dataset("taobao", taobao, out)
    users = {u["user_id"]: u for u in table(out, "users")}
    # Profiled users, plus event users with no profile row.
    assert set(users) == {"581738", "12345", "449818", "900001"}
    assert users["581738"]["gender"] == "female"
    assert users["581738"]["age_band"] == "5"
    assert users["581738"]["city_tier"] == "3"
    assert users["581738"]["pvalue_level"] is None
    assert users["12345"]["gender"] == "male"
    assert users["449818"]["gender"] is None
    behaviors = table(out, "behaviors", "ts")
    assert [(b["user_id"], b["action"], b["category"], b["brand"]) for b in behaviors] == [
        ("581738", "view", "6406", "95471"),
        ("581738", "cart", "6406", None),
        ("449818", "favorite", "4520", "22"),
        ("12345", "purchase", "1326", "1"),
    ]
    assert behaviors[0]["ts"] == _ts(1493741625)
    assert (1, "behaviour rows of users outside raw_sample and user_profile") in summary.dropped
    text = str(summary)
    assert f"cpm={DEFAULT_CPM:g}" in text and "no creative text" in text


def test_fuxictr_layout(tmp_path: Path, lines, contract, table) -> None:
    header = (
        "clk,time_stamp,userid,adgroup_id,pid,cate_id,campaign_id,customer,brand,price,"
        "cms_segid,cms_group_id,final_gender_code,age_level,pvalue_level,shopping_level,"
        "occupation,new_user_class_level,click_sequence"
    )
    profile = "0,3,2,3,,3,0,"
    row1 = (
        f"0,2017-05-06 00:00:00,874257,172298,430548_1007,5443,160194,864,339907,3.9,{profile},1^2"
    )
    row2 = f"1,2017-05-06 00:00:05,874257,519384,430548_1007,6261,137739,1210,,189.0,{profile},"
    lines(tmp_path / "src" / "train_sample.csv", [header, row1, row2])
    # The same impression again in another split, with a different click_sequence.
    lines(tmp_path / "src" / "valid_sample.csv", [header, row1[:-3] + "7"])
    out = tmp_path / "out"
    summary = import_dataset("taobao", tmp_path / "src", out)
    contract(out)
    events = table(out, "events", "ts, event desc")
    assert [(e["ts"], e["ad_id"], e["event"]) for e in events] == [
        (datetime(2017, 5, 6), "172298", "impression"),
        (datetime(2017, 5, 6, 0, 0, 5), "519384", "impression"),
        (datetime(2017, 5, 6, 0, 0, 5), "519384", "click"),
    ]
    assert summary.dropped == [(1, "duplicate FuxiCTR rows (same user, time, ad, pid)")]
    assert table(out, "users") == [
        {
            "user_id": "874257", "gender": "female", "age_band": "3", "city_tier": None,
            "cms_segid": "0", "cms_group_id": "3", "pvalue_level": None,
            "shopping_level": "3", "occupation": "0",
        }
    ]  # fmt: skip
    assert [a["title"] for a in table(out, "ads")] == [
        "Taobao ad: category 5443, brand 339907, price under 10",
        "Taobao ad: category 6261, price 100-500",
    ]


@pytest.mark.parametrize(
    ("file", "line", "match"),
    [
        ("raw_sample.csv", "5,1494137644,1,430548_1007,0,0",
         r"table 'raw_sample.csv', column 'nonclk', row 2: nonclk must be 1 - clk; got '0'"),
        ("raw_sample.csv", "5,1494137644,1,430548_1007,1,x",
         r"table 'raw_sample.csv', column 'clk', row 2: clk must be 0 or 1; got 'x'"),
        ("raw_sample.csv", "5,yesterday,1,430548_1007,1,0",
         r"column 'time_stamp', row 2: time_stamp must be unix seconds "
         r"\(an integer from 0 to 4102444800\); got 'yesterday'"),
        ("ad_feature.csv", "1,1,1,1,1,-3",
         r"table 'ad_feature.csv', column 'price', row 2: price must be a number >= 0"),
        ("ad_feature.csv", "1,1,1,1,1,3",
         r"'ad_feature.csv', column 'adgroup_id', row 2: duplicate id '1' \(first on row 1\)"),
        ("behavior_log.csv", "581738,1493741625,like,1,1",
         r"table 'behavior_log.csv', column 'btag', row 2: btag must be one of pv, cart, fav, buy"),
    ],
)  # fmt: skip
def test_bad_rows_name_file_column_row(
    tmp_path: Path, lines, file: str, line: str, match: str
) -> None:
    src = tmp_path / "src"
    good = {"raw_sample.csv": RAW, "ad_feature.csv": ADS, "behavior_log.csv": BEHAVIOR}
    for name, content in good.items():
        lines(src / name, content[:2] + [line] if name == file else content)
    with pytest.raises(InputError, match=match):
        import_dataset("taobao", src, tmp_path / "out")


def test_missing_column_and_file(tmp_path: Path, lines) -> None:
    lines(tmp_path / "a" / "raw_sample.csv", ["user,time_stamp,adgroup_id,pid,nonclk", "1,1,1,1,1"])
    lines(tmp_path / "a" / "ad_feature.csv", ADS)
    with pytest.raises(
        InputError, match=r"'raw_sample.csv', column 'clk': missing column\(s\) clk"
    ):
        import_dataset("taobao", tmp_path / "a", tmp_path / "out")
    lines(tmp_path / "b" / "raw_sample.csv", RAW)
    with pytest.raises(InputError, match=r"'ad_feature.csv': missing from .*ads come from it"):
        import_dataset("taobao", tmp_path / "b", tmp_path / "out")
    lines(tmp_path / "c" / "other.csv", ["a,b", "1,2"])
    with pytest.raises(InputError, match="not a Taobao source"):
        import_dataset("taobao", tmp_path / "c", tmp_path / "out")


def test_failed_import_keeps_previous_output(taobao: Path, tmp_path: Path, lines, table) -> None:
    out = tmp_path / "out"
    import_dataset("taobao", taobao, out)
    before = table(out, "events", "impression_id, event")
    lines(taobao / "raw_sample.csv", RAW + ["1,1,1,1,1,2"])
    with pytest.raises(InputError, match="row 5"):
        import_dataset("taobao", taobao, out)
    assert table(out, "events", "impression_id, event") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "taobao"]


def test_parameters_are_checked(taobao: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError,
                       match=r"'cpm' parameter of import_dataset must be a number >= 0. Got -1"):
        import_dataset("taobao", taobao, tmp_path / "out", cpm=-1)
    with pytest.raises(
        ParameterError, match="'fmt' parameter of import_dataset must be one of avazu, criteo, "
        "mind, taobao. Got 'kaggle' instead"
    ):
        import_dataset("kaggle", taobao, tmp_path / "out")
    with pytest.raises(ParameterError,
                       match=r"'memory_limit' parameter of import_dataset must be a size like"):
        import_dataset("taobao", taobao, tmp_path / "out", memory_limit="lots")
    with pytest.raises(InputError, match="the taobao source does not exist"):
        import_dataset("taobao", tmp_path / "nowhere", tmp_path / "out")


def test_ingest_loads_everything(taobao: Path, tmp_path: Path, ingested) -> None:
    summary = import_dataset("taobao", taobao, tmp_path / "out")
    ingested(tmp_path / "out", tmp_path / "ws", summary.rows)


@pytest.mark.slow
def test_tight_memory_limit_spills(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    src = tmp_path / "src"
    src.mkdir()
    clk = (rng.random(n) < 0.05).astype(int)
    pd.DataFrame(
        {
            "user": rng.integers(1, 20_000, n),
            "time_stamp": 1494000000 + rng.integers(0, 8 * 86400, n),
            "adgroup_id": rng.integers(1, 5_000, n),
            "pid": rng.choice(["430548_1007", "430539_1007"], n),
            "nonclk": 1 - clk,
            "clk": clk,
        }
    ).to_csv(src / "raw_sample.csv", index=False)
    ads = np.arange(1, 5_000)
    pd.DataFrame(
        {"adgroup_id": ads, "cate_id": ads % 50, "campaign_id": ads // 4, "customer": ads // 9,
         "brand": ads * 7, "price": (ads % 300) * 1.5}
    ).to_csv(src / "ad_feature.csv", index=False)  # fmt: skip
    users = rng.integers(1, 25_000, n)  # some users never saw an ad: dropped
    pd.DataFrame(
        {"user": users, "time_stamp": 1493000000 + rng.integers(0, 86400, n),
         "btag": rng.choice(list(BTAG_ACTIONS), n), "cate": users % 40, "brand": users % 13}
    ).to_csv(src / "behavior_log.csv", index=False)  # fmt: skip
    summary = import_dataset("taobao", src, tmp_path / "out", memory_limit="64MB", part_rows=50_000)
    assert summary.rows["events"] == n + clk.sum()
    seen = set(pd.read_csv(src / "raw_sample.csv", usecols=["user"]).user)
    known = np.isin(users, list(seen))
    assert summary.rows["behaviors"] == known.sum()
    reason = "behaviour rows of users outside raw_sample and user_profile"
    assert summary.dropped == [(int((~known).sum()), reason)]
    parts = sorted((tmp_path / "out" / "events").iterdir())
    sizes = [pq.ParquetFile(p).metadata.num_rows for p in parts]
    assert len(parts) >= 3 and sum(sizes) == summary.rows["events"]
    assert all(50_000 <= s < 100_000 for s in sizes[:-1])


SHARED_TAOBAO = Path(__file__).resolve().parents[3] / "shared" / "datasets" / \
    "taobao_adclick_fuxictr_tiny"


@pytest.mark.skipif(not SHARED_TAOBAO.exists(), reason="the shared Taobao sample is not here")
def test_the_same_input_writes_the_same_files(tmp_path: Path) -> None:
    # grouped rows come back from DuckDB's threads in any order: the writer sorts them,
    # so a time split downstream does not depend on the run
    digests = []
    for run in ("a", "b", "c"):
        import_dataset("taobao", SHARED_TAOBAO, tmp_path / run)
        digests.append({p.relative_to(tmp_path / run): p.read_bytes()
                        for p in sorted((tmp_path / run).rglob("*.parquet"))})
    assert digests[0] == digests[1] == digests[2]
