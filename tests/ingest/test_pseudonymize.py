"""Pseudonymisation: no raw user id reaches the warehouse, ids join, one salt per warehouse."""

from __future__ import annotations

import hashlib

import pytest

from adopt.exceptions import InputError
from adopt.ingest import ingest
from adopt.workspace import Workspace

SALT = "s3cret-salt"


def pseudonym(user_id: str, salt: str = SALT) -> str:
    return hashlib.sha256((salt + user_id).encode()).hexdigest()[:32]


@pytest.fixture
def salted(world, write, tmp_path):
    """The world with a `referrer_user_id` extra on ads, ingested with SALT."""
    world["ads"]["referrer_user_id"] = ["u1", "u2", "u3", "u4", "u5"]
    data = write(world)
    ingest(data, tmp_path / "ws", pseudonymize_salt=SALT)
    return world, data, Workspace(tmp_path / "ws").warehouse


def test_no_raw_user_id_left_in_any_table(salted, wh_query):
    world, _, wh = salted
    raw_ids = set(world["users"]["user_id"])
    for table in ("users", "events", "behaviors", "ads", "placements", "campaigns", "ingest_log"):
        # Every text value of every column, as one list per table.
        values = wh_query(wh, f"SELECT list(COLUMNS(*)::VARCHAR) FROM {table}")[0]
        seen = {v for column in values if column for v in column}
        assert not raw_ids & seen, table
    assert wh_query(
        wh, "SELECT user_id FROM users WHERE signup_ts = $t", {"t": world["users"].signup_ts[7]}
    ) == [(pseudonym("u7"),)]


def test_pseudonyms_are_consistent_across_tables(salted, wh_query):
    world, _, wh = salted
    expected = {pseudonym(u) for u in world["events"]["user_id"]}
    assert {u for (u,) in wh_query(wh, "SELECT DISTINCT user_id FROM events")} == expected
    orphans = "SELECT count(*) FROM {t} WHERE user_id NOT IN (SELECT user_id FROM users)"
    assert wh_query(wh, orphans.format(t="events")) == [(0,)]
    assert wh_query(wh, orphans.format(t="behaviors")) == [(0,)]
    assert wh_query(wh, "SELECT referrer_user_id FROM ads WHERE ad_id = 'a0'") == [
        (pseudonym("u1"),)
    ]


def test_salt_is_logged_as_a_fingerprint_only(salted, wh_query):
    _, _, wh = salted
    fingerprint = hashlib.sha256(SALT.encode()).hexdigest()
    assert wh_query(wh, "SELECT salt_fingerprint FROM ingest_log") == [(fingerprint,)]
    assert wh_query(
        wh, "SELECT count(*) FROM ingest_log WHERE tables LIKE '%' || $s || '%'", {"s": SALT}
    ) == [(0,)]


def test_same_salt_again_is_idempotent(salted, tmp_path, wh_query):
    _, data, wh = salted
    summary = ingest(data, tmp_path / "ws", pseudonymize_salt=SALT)
    assert summary["events"].rows_loaded == 0
    assert wh_query(wh, "SELECT count(*) FROM users") == [(20,)]


@pytest.mark.parametrize(
    ("salt", "pattern"),
    [
        ("other-salt", r"pseudonymize_salt differs from the salt this warehouse was loaded with"),
        (None, r"this warehouse holds pseudonymised user ids .*ingest with the same"),
    ],
)
def test_salt_mismatch_is_refused(salted, tmp_path, wh_checksum, salt, pattern):
    _, data, wh = salted
    before = wh_checksum(wh)
    with pytest.raises(InputError, match=r"^table 'users', column 'user_id': " + pattern):
        ingest(data, tmp_path / "ws", pseudonymize_salt=salt)
    assert wh_checksum(wh) == before


def test_salt_on_a_raw_warehouse_is_refused(world, write, loaded_ws, base_checksum, wh_checksum):
    with pytest.raises(
        InputError, match=r"holds raw user ids, so pseudonymize_salt cannot be added"
    ):
        ingest(write(world), loaded_ws, pseudonymize_salt=SALT)
    assert wh_checksum(Workspace(loaded_ws).warehouse) == base_checksum


def test_empty_salt_is_refused(world, write, tmp_path):
    with pytest.raises(InputError, match=r"pseudonymize_salt must be a non-empty string or None"):
        ingest(write(world), tmp_path / "ws", pseudonymize_salt="")


def test_errors_do_not_show_pseudonymised_ids(world, write, tmp_path):
    world["users"].loc[4, "user_id"] = "u2"
    with pytest.raises(InputError, match=r"row 5 of users\.csv \(user_id \(pseudonymised\)\)"):
        ingest(write(world), tmp_path / "ws", pseudonymize_salt=SALT)
