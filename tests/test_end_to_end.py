"""Every format reaches a plan and a report through the CLI, by the commands the docs show.

The ``# end to end: <format>`` blocks of docs/importers.md (the README shows the
same blocks) are parsed and run as a user would type them, each line through
``adopt.cli.main`` in a fresh folder: import -> ingest -> profiles -> train ->
segment -> curves -> plan -> report. The shared public samples
(``../shared/datasets`` beside the repository, or ``ADOPT_DATASETS``) are never
required: their cases skip when the samples are absent; the generic case runs
on an export the test writes (no categories, behaviours or text).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import duckdb
import pytest

from adopt.cli import main

pytestmark = [pytest.mark.usefixtures("own_log_handler"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ADOPT_DATASETS", ROOT.parent / "shared" / "datasets"))
BLOCK = re.compile(r"```bash\n# end to end: (\w+)\n(.*?)```", re.S)
FORMATS = ("taobao", "mind", "criteo", "avazu", "generic")


def doc_blocks(path: Path) -> dict[str, list[str]]:
    """Format -> its command lines, from the ``# end to end:`` blocks of a Markdown file."""
    return {m.group(1): [line for line in m.group(2).splitlines() if line.strip()]
            for m in BLOCK.finditer(path.read_text(encoding="utf-8"))}


def test_the_docs_show_every_format_and_the_readme_the_same_commands() -> None:
    docs = doc_blocks(ROOT / "docs" / "importers.md")
    assert tuple(docs) == FORMATS
    assert doc_blocks(ROOT / "README.md") == docs
    for fmt, lines in docs.items():
        stages = [shlex.split(line)[1] for line in lines]
        assert stages[-2:] == ["plan", "report"], fmt
        assert all(line.startswith("adopt ") for line in lines)


def _argv(line: str) -> list[str]:
    """A doc line as main() arguments: the samples' and docs' paths made absolute."""
    out = []
    for word in shlex.split(line)[1:]:
        if word.startswith("../shared/datasets/"):
            word = str(SHARED / word.removeprefix("../shared/datasets/"))
        elif word.startswith("docs/"):
            word = str(ROOT / word)
        out.append(word)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reaches_a_plan_and_a_report(fmt: str, tmp_path: Path, make_export,
                                                 monkeypatch, capsys) -> None:
    lines = doc_blocks(ROOT / "docs" / "importers.md")[fmt]
    if fmt == "generic":
        make_export(tmp_path / "my_export", users=300)
    elif not SHARED.exists():
        pytest.skip(f"no shared samples at {SHARED}")
    monkeypatch.chdir(tmp_path)
    for line in lines:
        code = main(_argv(line))
        err = capsys.readouterr().err
        assert code == 0, f"{line!r} exited {code}: {err.strip().splitlines()[-1:]}"
        assert "Traceback" not in err
    ws = tmp_path / _argv(lines[-2])[_argv(lines[-2]).index("--workspace") + 1]
    plan = json.loads((ws / "plans" / "clicks" / "plan.json").read_text())
    assert plan["plan_id"] == "clicks" and plan["status"] == "optimal"
    report = (tmp_path / f"{'my' if fmt == 'generic' else fmt}_report.html").read_text()
    assert "<html" in report.lower()
    with duckdb.connect(str(ws / "warehouse.duckdb"), read_only=True) as con:
        ctr = [r[0] for r in con.execute(
            "select ctr from segments where not suppressed").fetchall()]
        profile_columns = dict(con.execute(
            "select column_name, column_type from (describe user_profiles)").fetchall())
    # audiences from what is known before the impression: no "CTR 100%" segment
    assert ctr and all(c is None or c < 0.9 for c in ctr), ctr
    attribute = {"taobao": "pvalue_level", "criteo": "I1", "avazu": "device_model",
                 "generic": "pctr_decile"}.get(fmt)
    assert attribute is None or attribute in profile_columns  # attributes reach the profiles
    if fmt == "criteo":  # numeric stays numeric
        assert profile_columns["I1"] == "DOUBLE" and profile_columns["C1"] == "VARCHAR"
    assert plan["totals"]["spend"] > 0 and plan["totals"]["clicks"] > 0


def test_a_test_day_without_clicks_trains_and_says_what_to_change(tmp_path: Path, make_export,
                                                                   capsys) -> None:
    """Sparse logs (the Taobao head's test cut can hold no click): `adopt train` keeps the
    model, says the card has no test metrics and which setting would score it, and that
    setting does."""
    import re

    import pandas as pd

    folder = make_export(tmp_path / "my_export", users=300)
    events = pd.read_csv(folder / "events.csv")
    day = pd.to_datetime(events["ts"]).dt.date
    imp = events["event"] == "impression"
    test_day = day[imp].max()  # the test split: the last day with impressions
    on_test_day = events["impression_id"].isin(events.loc[imp & (day == test_day),
                                                         "impression_id"])
    events[imp | ~on_test_day].to_csv(folder / "events.csv", index=False)
    ws = str(tmp_path / "ws")
    assert main(["ingest", str(folder), "--workspace", ws]) == 0
    assert main(["profiles", "--workspace", ws]) == 0
    capsys.readouterr()
    assert main(["train", "--workspace", ws, "--model", "lightgbm"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no test metrics: the test split" in err
    cards = sorted((tmp_path / "ws" / "models").glob("*/card.json"))
    assert json.loads(cards[-1].read_text())["metrics"] == []
    frac = re.search(r"--test-frac ([0-9.]+)", err).group(1)
    assert main(["train", "--workspace", ws, "--model", "lightgbm", "--run-id", "scored",
                 "--test-frac", frac]) == 0
    card = json.loads((tmp_path / "ws" / "models" / "scored" / "card.json").read_text())
    assert card["metrics"]
