"""MIND importer: news become ads, impression lists become events, history behaviours."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adopt.exceptions import InputError
from adopt.importers import import_dataset

NEWS = [
    'N1\tsports\tfootball\tA "quoted" title\tThe abstract.\thttps://x/1\t[]\t[]',
    "N2\tnews\tnewsus\tSecond title\t\thttps://x/2\t[]\t[]",
    "N3\tnews\tnewsworld\tThird title\tThird abstract\thttps://x/3\t[]\t[]",
]
BEHAVIORS = [
    "1\tU1\t11/15/2019 8:55:22 AM\tN3 N9 N1\tN1-0 N2-1 N7-1",
    "2\tU1\t11/15/2019 2:00:00 PM\tN3 N9 N1\tN2-0",
    "3\tU2\t11/14/2019 11:59:59 PM\t\tN3-1 N8-0",
]


@pytest.fixture
def mind(tmp_path: Path, lines) -> Path:
    lines(tmp_path / "src" / "news.tsv", NEWS)
    lines(tmp_path / "src" / "behaviors.tsv", BEHAVIORS)
    return tmp_path / "src"


def test_events_row_by_row(mind: Path, tmp_path: Path, contract, table) -> None:
    out = tmp_path / "out"
    summary = import_dataset("mind", mind, out, cpm=1.5)
    assert contract(out) == summary.rows
    events = table(out, "events", "impression_id, event desc")
    t1 = datetime(2019, 11, 15, 8, 55, 22)
    assert [
        (e["impression_id"], e["ts"], e["user_id"], e["ad_id"], e["event"]) for e in events
    ] == [
        ("1-1", t1, "U1", "N1", "impression"),
        ("1-2", t1, "U1", "N2", "impression"),
        ("1-2", t1, "U1", "N2", "click"),
        ("2-1", datetime(2019, 11, 15, 14), "U1", "N2", "impression"),
        ("3-1", datetime(2019, 11, 14, 23, 59, 59), "U2", "N3", "impression"),
        ("3-1", datetime(2019, 11, 14, 23, 59, 59), "U2", "N3", "click"),
    ]
    assert {(e["placement_id"], e["cost"]) for e in events} == {("mind_news_feed", 0.0015)}
    # N7 (clicked) and N8 have no news row.
    assert summary.dropped == [
        (2, "impression candidates (1 of them clicked) with no news.tsv row")
    ]
    assert "2 impression candidates" in str(summary)


def test_news_become_ads(mind: Path, tmp_path: Path, table) -> None:
    out = tmp_path / "out"
    import_dataset("mind", mind, out)
    ads = table(out, "ads")
    assert [(a["ad_id"], a["campaign_id"], a["title"], a["description"]) for a in ads] == [
        ("N1", "sports", 'A "quoted" title', "The abstract."),
        ("N2", "news", "Second title", None),
        ("N3", "news", "Third title", "Third abstract"),
    ]
    assert ads[0]["subcategory"] == "football" and ads[0]["category"] == "sports"
    assert table(out, "campaigns") == [{"campaign_id": "news"}, {"campaign_id": "sports"}]
    assert [u["user_id"] for u in table(out, "users")] == ["U1", "U2"]


def test_history_becomes_behaviours_before_first_impression(
    mind: Path, tmp_path: Path, table
) -> None:
    out = tmp_path / "out"
    summary = import_dataset("mind", mind, out)
    behaviors = table(out, "behaviors", "ts")
    first = datetime(2019, 11, 15, 8, 55, 22)
    assert [(b["ts"], b["user_id"], b["action"], b["item_id"]) for b in behaviors] == [
        (first - timedelta(seconds=3), "U1", "view", "N3"),
        (first - timedelta(seconds=2), "U1", "view", "N9"),
        (first - timedelta(seconds=1), "U1", "view", "N1"),
    ]
    assert (behaviors[0]["category"], behaviors[0]["text"]) == ("news", "Third title")
    assert (behaviors[1]["category"], behaviors[1]["text"]) == (None, None)
    assert "1 history items have no news.tsv row" in str(summary)


def test_duplicate_news_keeps_first(mind: Path, tmp_path: Path, lines, table) -> None:
    lines(mind / "news.tsv", NEWS + ["N1\tother\tx\tLater title\t\t\t\t"])
    out = tmp_path / "out"
    summary = import_dataset("mind", mind, out)
    assert table(out, "ads")[0]["title"] == 'A "quoted" title'
    assert (1, "news.tsv rows repeating a news id") in summary.dropped


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("4\tU3\t11/15/2019 8:55:22 AM\t\tN1 N2",
         r"'behaviors.tsv', column 'impressions', row 4: .*the MIND test split has no labels"),
        ("4\tU3\t2019-11-15 08:55\t\tN1-0",
         r"'behaviors.tsv', column 'time', row 4: time must look like '11/15/2019 8:55:22 AM'; "
         r"got '2019-11-15 08:55'"),
        ("4\t\t11/15/2019 8:55:22 AM\t\tN1-0",
         r"'behaviors.tsv', column 'user_id', row 4: user_id must not be empty"),
        ("4\tU3\t11/15/2019 8:55:22 AM\tN1-0",
         r"'behaviors.tsv': cannot read the file: line 4 has 4 fields, expected 5"),
    ],
)  # fmt: skip
def test_bad_behaviors_rows(mind: Path, tmp_path: Path, lines, line: str, match: str) -> None:
    lines(mind / "behaviors.tsv", BEHAVIORS + [line])
    with pytest.raises(InputError, match=match):
        import_dataset("mind", mind, tmp_path / "out")


def test_missing_files(tmp_path: Path, lines) -> None:
    lines(tmp_path / "src" / "news.tsv", NEWS)
    with pytest.raises(InputError, match=r"'behaviors.tsv': missing from .*MIND needs"):
        import_dataset("mind", tmp_path / "src", tmp_path / "out")
    with pytest.raises(InputError, match="a MIND source is a folder"):
        import_dataset("mind", tmp_path / "src" / "news.tsv", tmp_path / "out")


def test_ingest_loads_everything(mind: Path, tmp_path: Path, ingested) -> None:
    summary = import_dataset("mind", mind, tmp_path / "out")
    ingested(tmp_path / "out", tmp_path / "ws", summary.rows)
