"""Criteo and Avazu importers: the Kaggle display-ads layouts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from adopt.exceptions import InputError, ParameterError
from adopt.importers import import_dataset

CRITEO_HEADER = ["label", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27))]
AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,"
    "C14,C15,C16,C17,C18,C19,C20,C21"
)
AVAZU = [
    AVAZU_HEADER,
    # Missing device id (a99f214a): the user is device_ip + device_model.
    "1000009418151094273,0,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,"
    "07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79",
    # App traffic (site 85f751fd): the placement is the app.
    "10000169349117863715,1,14102101,1005,1,85f751fd,c4e18dd6,50e219e0,9c13b419,2347f47a,"
    "f95efa07,0f7c61dc,96809ac8,711ee120,1,0,15704,320,50,1722,0,35,100084,79",
]


def _criteo_rows(rng: np.random.Generator, n: int) -> list[list[str]]:
    rows = []
    for _ in range(n):
        ints = [str(v) if v >= 0 else "" for v in rng.integers(-3, 50, size=13)]
        cats = [f"{v:08x}" if v % 7 else "" for v in rng.integers(0, 2**32, size=26)]
        rows.append([str(int(rng.random() < 0.3)), *ints, *cats])
    return rows


def test_criteo_kaggle_layout_row_by_row(tmp_path: Path, lines, contract, table) -> None:
    rng = np.random.default_rng(7)
    rows = _criteo_rows(rng, 40)
    path = lines(tmp_path / "train.txt", ["\t".join(r) for r in rows])
    out = tmp_path / "out"
    summary = import_dataset("criteo", path, out)
    assert contract(out) == summary.rows
    clicks = sum(r[0] == "1" for r in rows)
    assert summary.rows["events"] == len(rows) + clicks
    events = table(out, "events", "impression_id::int, event desc")
    users = {u["user_id"]: u for u in table(out, "users")}
    step = timedelta(days=7) / len(rows)
    i = 0
    for n, row in enumerate(rows, start=1):
        expected = ["impression", "click"] if row[0] == "1" else ["impression"]
        for kind in expected:
            e = events[i]
            assert (e["impression_id"], e["event"], e["user_id"]) == (str(n), kind, f"u{n}")
            assert e["placement_id"] == f"C6={row[19] or 'none'}"
            assert abs(e["ts"] - (datetime(2014, 1, 1) + (n - 1) * step)) < timedelta(seconds=1)
            i += 1
        user = users[f"u{n}"]
        assert user["I1"] == (float(row[1]) if row[1] else None)
        assert user["C26"] == (row[39] or None)
    assert table(out, "ads")[0]["ad_id"] == "criteo_ad"
    assert "frequency curves and caps" in str(summary)


def test_criteo_with_header_and_commas(tmp_path: Path, lines, table) -> None:
    rows = _criteo_rows(np.random.default_rng(1), 3)
    path = lines(
        tmp_path / "criteo_sample.txt", [",".join(CRITEO_HEADER)] + [",".join(r) for r in rows]
    )
    out = tmp_path / "out"
    import_dataset("criteo", tmp_path, out)
    assert [u["user_id"] for u in table(out, "users", "user_id")] == ["u1", "u2", "u3"]
    bad = rows[1].copy()
    bad[5] = "lots"
    lines(path, [",".join(CRITEO_HEADER), ",".join(rows[0]), ",".join(bad)])
    with pytest.raises(
        InputError,
        match=r"'criteo_sample.txt', column 'I5', row 2: I5 must be a number; got 'lots'",
    ):
        import_dataset("criteo", path, out)


def test_criteo_test_file_without_label_is_refused(tmp_path: Path, lines) -> None:
    rows = _criteo_rows(np.random.default_rng(2), 2)
    path = lines(tmp_path / "test.txt", ["\t".join(r[1:]) for r in rows])
    with pytest.raises(InputError, match=r"expected 40 fields .* found 39; the Kaggle test.txt"):
        import_dataset("criteo", path, tmp_path / "out")
    rows[1][0] = "2"
    lines(path, ["\t".join(r) for r in rows])
    with pytest.raises(
        InputError, match=r"'test.txt', column 'label', row 2: label must be 0 or 1"
    ):
        import_dataset("criteo", path, tmp_path / "out")


def test_avazu_row_by_row(tmp_path: Path, lines, contract, table) -> None:
    path = lines(tmp_path / "train.csv", AVAZU)
    out = tmp_path / "out"
    summary = import_dataset("avazu", tmp_path, out, cpm=3)
    assert contract(out) == summary.rows
    events = table(out, "events", "ts, event desc")
    assert [(e["ts"], e["user_id"], e["placement_id"], e["ad_id"], e["event"]) for e in events] == [
        (datetime(2014, 10, 21), "ip:ddd2926e:44956a24", "site:1fbe01fe:0", "15706", "impression"),
        (datetime(2014, 10, 21, 1), "dev:0f7c61dc", "app:9c13b419:1", "15704", "impression"),
        (datetime(2014, 10, 21, 1), "dev:0f7c61dc", "app:9c13b419:1", "15704", "click"),
    ]  # fmt: skip
    assert events[0]["impression_id"] == "1000009418151094273"
    assert events[0]["site_category"] == "28905ebd" and events[1]["C20"] == "100084"
    assert table(out, "ads") == [
        {"ad_id": "15704", "campaign_id": "1722", "title": "Mobile ad 15704, banner 320x50",
         "width": "320", "height": "50"},
        {"ad_id": "15706", "campaign_id": "1722", "title": "Mobile ad 15706, banner 320x50",
         "width": "320", "height": "50"},
    ]  # fmt: skip
    assert {p["cpm"] for p in table(out, "placements")} == {3.0}
    assert table(out, "users") == [
        {"user_id": "dev:0f7c61dc", "device_type": "1", "device_model": "711ee120"},
        {"user_id": "ip:ddd2926e:44956a24", "device_type": "1", "device_model": "44956a24"},
    ]
    assert path.exists()


def test_avazu_errors(tmp_path: Path, lines) -> None:
    test_file = lines(tmp_path / "test.csv", [AVAZU_HEADER.replace("click,", ""), "1"])
    with pytest.raises(
        InputError, match=r"'test.csv', column 'click': missing: the Kaggle test file"
    ):
        import_dataset("avazu", test_file, tmp_path / "out")
    bad = AVAZU[1].replace(",14102100,", ",2014-10-21,")
    path = lines(tmp_path / "train.csv", [AVAZU[0], AVAZU[2], bad])
    with pytest.raises(
        InputError, match=r"'train.csv', column 'hour', row 2: hour must be YYMMDDHH"
    ):
        import_dataset("avazu", path, tmp_path / "out")


def test_part_files(tmp_path: Path, lines, table) -> None:
    rows = _criteo_rows(np.random.default_rng(3), 25)
    path = lines(tmp_path / "train.txt", ["\t".join(r) for r in rows])
    out = tmp_path / "out"
    summary = import_dataset("criteo", path, out, part_rows=10)
    parts = sorted(p.name for p in (out / "users").iterdir())
    assert parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert len(table(out, "users")) == summary.rows["users"] == 25
    with pytest.raises(ParameterError,
                       match=r"'part_rows' parameter of import_dataset must be an integer >= 1"):
        import_dataset("criteo", path, out, part_rows=0)


def test_ingest_loads_everything(tmp_path: Path, lines, ingested) -> None:
    rows = _criteo_rows(np.random.default_rng(4), 30)
    criteo = lines(tmp_path / "train.txt", ["\t".join(r) for r in rows])
    summary = import_dataset("criteo", criteo, tmp_path / "criteo")
    ingested(tmp_path / "criteo", tmp_path / "ws_criteo", summary.rows)
    avazu = lines(tmp_path / "train.csv", AVAZU)
    summary = import_dataset("avazu", avazu, tmp_path / "avazu")
    ingested(tmp_path / "avazu", tmp_path / "ws_avazu", summary.rows)
