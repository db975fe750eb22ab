"""Adversarial CLI cases: bad plan files, paths, outputs and rule conditions.

Each case runs `adopt` in-process and expects exit code 2, one stderr line
naming the field, parameter, rule or path, no traceback, and the workspace
(warehouse.duckdb and the plans/ tree) exactly as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from adopt.cli import main
from adopt.optimize.examples import random_curves

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


pytestmark = pytest.mark.usefixtures("own_log_handler")


def run_cli(argv: list[str], capsys) -> tuple[int, list[str], str]:
    """Exit code, the stderr lines that are not log lines, and the whole stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if not LOG_LINE.match(line)], err


def fingerprint(ws: Path) -> dict[str, str]:
    """sha256 of warehouse.duckdb and of every entry of the plans/ tree (links by target)."""
    out = {}
    if (ws / "warehouse.duckdb").exists():
        out["warehouse.duckdb"] = hashlib.sha256((ws / "warehouse.duckdb").read_bytes()).hexdigest()
    plans = ws / "plans"
    if plans.is_symlink() or plans.is_file():
        out["plans"] = ("link" if plans.is_symlink()
                        else hashlib.sha256(plans.read_bytes()).hexdigest())
    elif plans.is_dir():
        for path in sorted(plans.rglob("*")):
            rel = str(path.relative_to(ws))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def assert_one_line_error(code, lines, err, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("adopt: error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- a tiny planning world: curves, placements, a workspace with one plan -------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adv_plan")
    curves, placements = random_curves(segments=4, placements=2, positions=2, seed=5)
    curves.to_parquet(root / "curves.parquet")
    placements.to_parquet(root / "placements.parquet")
    ws = root / "ws"
    ws.mkdir()
    (ws / "warehouse.duckdb").write_bytes(b"not opened by the plan cases")
    (root / "plan.toml").write_text('plan_id = "p0"\nbudget = 50.0\n')
    code = main(["plan", "--curves", str(root / "curves.parquet"), "--placements",
                 str(root / "placements.parquet"), "--config", str(root / "plan.toml"),
                 "--out", str(ws / "plans"), "--no-frontier", "--no-baselines"])
    assert code == 0
    return root


@pytest.fixture
def ws(files: Path, tmp_path: Path) -> Path:
    """A private copy of the workspace (warehouse stand-in and plans/p0)."""
    target = tmp_path / "ws"
    shutil.copytree(files / "ws", target, symlinks=True)
    return target


def plan_args(files: Path, ws: Path, config: Path, out: Path | None = None) -> list[str]:
    return ["plan", "--curves", str(files / "curves.parquet"), "--placements",
            str(files / "placements.parquet"), "--config", str(config),
            "--out", str(out or ws / "plans"), "--no-frontier", "--no-baselines"]


BAD_PLAN_FILES = [
    # plan_id used as a folder name
    ('plan_id = "../../escaped"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "{tmp}/absolute"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "."\nbudget = 50.0\n', "plan_id"),
    ('plan_id = ".."\nbudget = 50.0\n', "plan_id"),
    ('plan_id = ".hidden"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "a/b"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "a\\\\b"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = ""\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "two words"\nbudget = 50.0\n', "plan_id"),
    (f'plan_id = "{"x" * 101}"\nbudget = 50.0\n', "plan_id"),
    ('plan_id = "p\\u00e9"\nbudget = 50.0\n', "plan_id"),
    # strict, finite numbers
    ("budget = inf\n", "budget"),
    ("budget = -inf\n", "budget"),
    ("budget = nan\n", "budget"),
    ("budget = true\n", "budget"),
    ('budget = "100"\n', "budget"),
    ("budget = [100]\n", "budget"),
    ('budget = 50.0\ninteger_caps = "yes"\n', "integer_caps"),
    ('budget = 50.0\nobjective = { metric = "clicks", target = "5" }\n', "target"),
    ('budget = 50.0\n[[constraints]]\ntype = "frequency_cap"\ncap = "3"\n', "cap"),
    ('budget = 50.0\n[[constraints]]\ntype = "frequency_cap"\ncap = true\n', "cap"),
    ('budget = 50.0\n[[constraints]]\ntype = "frequency_cap"\ncap = inf\n', "cap"),
    ('budget = 50.0\n[[constraints]]\ntype = "frequency_cap"\ncap = 2\n'
     'across_placements = "yes"\n', "across_placements"),
    ('budget = 50.0\n[[constraints]]\ntype = "target_cpa"\nvalue = nan\n', "value"),
    ('budget = 50.0\n[[constraints]]\ntype = "spend"\nlevel = "campaign"\nkey = "c0"\n'
     'min = "5"\n', "min"),
    ('budget = 50.0\n[[constraints]]\ntype = "min_reach"\nsegment = "s0"\nusers = true\n',
     "users"),
    ('budget = 50.0\n[[constraints]]\ntype = "inventory"\nplacement_id = "p0"\n'
     'impressions = "100"\n', "impressions"),
    # an inventory on a placement the curves do not have
    ('budget = 50.0\n[[constraints]]\ntype = "inventory"\nplacement_id = "nowhere"\n'
     "impressions = 100\n", "constraints[0].placement_id"),
    ('budget = 50.0\n[[constraints]]\ntype = "frequency_cap"\ncap = 2\n[[constraints]]\n'
     'type = "inventory"\nplacement_id = "P0"\nimpressions = 100\n',
     "constraints[1].placement_id"),
    # targets no cell can meet: explained, not an empty "optimal" plan
    ('budget = 50.0\n[[constraints]]\ntype = "target_cpa"\nvalue = 0.0001\n',
     "target_cpa[all] 0.0001 cannot be met: the best CPA any cell reaches is"),
    ('budget = 50.0\n[[constraints]]\ntype = "target_roas"\nvalue = 1e9\n',
     "target_roas[all] 1,000,000,000 cannot be met: the best ROAS any cell reaches is"),
    ('budget = 50.0\n[[constraints]]\ntype = "target_cpa"\nvalue = 0.0001\n'
     'campaign_id = "c0"\n', "target_cpa[c0]"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_PLAN_FILES,
                         ids=[f"plan{i}" for i in range(len(BAD_PLAN_FILES))])
def test_bad_plan_file_is_one_line_and_writes_nothing(files, ws, tmp_path, capsys, text, needle):
    config = tmp_path / "plan.toml"
    config.write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    before = fingerprint(ws)
    outside = sorted(p.name for p in tmp_path.parent.iterdir())
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, needle)
    assert fingerprint(ws) == before
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == outside
    assert not (tmp_path / "absolute").exists()


@pytest.mark.parametrize("content", [b"budget = 50.0\n# caf\xe9\n", b"\xff\xfebudget = 1\n"])
def test_non_utf8_plan_file(files, ws, tmp_path, capsys, content):
    config = tmp_path / "plan.toml"
    config.write_bytes(content)
    before = fingerprint(ws)
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, "plan.toml", "not UTF-8")
    assert fingerprint(ws) == before


def test_plan_file_that_is_a_folder(files, ws, tmp_path, capsys):
    config = tmp_path / "plan.toml"
    config.mkdir()
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, "plan.toml", "cannot read the plan file")


def test_plan_folder_link_out_of_plans_is_refused(files, ws, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (ws / "plans" / "linked").symlink_to(elsewhere)
    config = tmp_path / "plan.toml"
    config.write_text('plan_id = "linked"\nbudget = 50.0\n')
    before = fingerprint(ws)
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, "plan_id", "resolves to")
    assert fingerprint(ws) == before and not any(elsewhere.iterdir())


def test_plans_is_a_file(files, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "plans").write_text("a file where the plans folder belongs")
    config = tmp_path / "plan.toml"
    config.write_text('plan_id = "p1"\nbudget = 50.0\n')
    before = fingerprint(ws)
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, "adopt plan cannot use", str(ws / "plans"))
    assert fingerprint(ws) == before


def test_read_only_output_folder(files, ws, tmp_path, capsys, monkeypatch):
    import adopt.workspace

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(adopt.workspace.tempfile, "mkstemp", denied)
    config = tmp_path / "plan.toml"
    config.write_text('plan_id = "p1"\nbudget = 50.0\n')
    code, lines, err = run_cli(plan_args(files, ws, config), capsys)
    assert_one_line_error(code, lines, err, "adopt plan cannot use", "Permission denied",
                          str(ws / "plans" / "p1"))


@pytest.mark.parametrize("exc", [
    PermissionError(13, "Permission denied", "WS/warehouse.duckdb"),
    OSError(30, "Read-only file system", "WS/warehouse.duckdb"),
    OSError(28, "No space left on device"),
])
def test_profiles_on_a_read_only_workspace(ws, capsys, monkeypatch, exc):
    import adopt.profiles

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(adopt.profiles, "build_profiles", fail)
    code, lines, err = run_cli(["profiles", "--workspace", str(ws)], capsys)
    assert_one_line_error(code, lines, err, "adopt profiles", exc.strerror)


def test_profiles_when_duckdb_cannot_write(ws, capsys, monkeypatch):
    import duckdb

    import adopt.profiles

    def fail(*args, **kwargs):
        raise duckdb.IOException(f'IO Error: Cannot open file "{ws}/warehouse.duckdb": '
                                 "Permission denied")

    monkeypatch.setattr(adopt.profiles, "build_profiles", fail)
    code, lines, err = run_cli(["profiles", "--workspace", str(ws)], capsys)
    assert_one_line_error(code, lines, err, "adopt profiles cannot use the warehouse",
                          "warehouse.duckdb", "Permission denied")


# -- adopt report: --out and --export never replace what is not theirs ------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _link_to_file(path: Path) -> Path:
    victim = path.parent / "victim.txt"
    victim.write_text("keep me")
    path.symlink_to(victim)
    return path


def _dangling_link(path: Path) -> Path:
    path.symlink_to(path.parent / "nothing-here")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _under_a_file(path: Path) -> Path:
    (path.parent / "afile").write_text("x")
    return path.parent / "afile" / "report.html"


@pytest.mark.parametrize(("make", "needle"), [
    (_link_to_file, "symbolic link"),
    (_dangling_link, "symbolic link"),
    (_fifo, "not a regular file"),
    (_folder, "a folder"),
    (_under_a_file, "afile"),
], ids=["link", "dangling-link", "fifo", "folder", "under-a-file"])
def test_report_out_of_the_wrong_kind(ws, tmp_path, capsys, make, needle):
    out = make(tmp_path / "report.html")
    before = fingerprint(ws)
    code, lines, err = run_cli(["report", "--plan", str(ws / "plans" / "p0"), "--out", str(out)],
                               capsys)
    assert_one_line_error(code, lines, err, needle)
    assert fingerprint(ws) == before
    if (tmp_path / "victim.txt").exists():
        assert (tmp_path / "victim.txt").read_text() == "keep me"
        assert out.is_symlink()


@pytest.mark.parametrize("make", [lambda p: p.write_text("x") and p, _fifo, _link_to_file],
                         ids=["file", "fifo", "link-to-file"])
def test_report_export_that_is_not_a_folder(ws, tmp_path, capsys, make):
    export = make(tmp_path / "exports")
    out = tmp_path / "report.html"
    code, lines, err = run_cli(["report", "--plan", str(ws / "plans" / "p0"), "--out", str(out),
                                "--export", str(export)], capsys)
    assert_one_line_error(code, lines, err, "--export", str(export))
    assert not out.exists()  # refused before anything is written


# -- adopt segment --rules: conditions are parsed, not pasted ---------------------------------


@pytest.fixture(scope="module")
def profiled(tmp_path_factory) -> Path:
    from adopt.ingest import ingest
    from adopt.profiles import build_profiles
    from adopt.synth import generate_world

    root = tmp_path_factory.mktemp("adv_rules")
    generate_world(root / "world", users=200, ads=12, days=5, seed=3, show_progress=False)
    ingest(root / "world", root / "ws")
    build_profiles(root / "ws")
    return root / "ws"


BAD_RULES = [
    ("1=1) order by user_id limit (60", "')'"),
    ("monetary > 0 limit 5", "'limit'"),
    ("monetary > 0 order by user_id", "'order'"),
    ("monetary > 0 qualify true", "'qualify'"),
    ("(monetary > 0", "end of the expression"),
    ("monetary > 0)", "')'"),
    ("monetary >", "end of the expression"),
    ("monetary = = 1", "'='"),
    ("monetary in 1", "'1'"),
    ("monetary between 1", "end of the expression"),
    ("monetary is 5", "'5'"),
    ("'a' || 'b' = 'ab'", "'|'"),
    ("monetary > 0 & 1", "'&'"),
    ("getenv('HOME') = 'x'", "'getenv'"),
    ("read_csv_auto('/etc/passwd') is not null", "'read_csv_auto'"),
    ("\"monetary\" > 0", "'\"'"),
    ("monetary::blob > 0", "'blob'"),
    ("monetary > 0 and", "end of the expression"),
    ("not", "end of the expression"),
    ("user_id = 1 or 1 = 1 --", "comments"),
]


@pytest.mark.parametrize(("where", "needle"), BAD_RULES,
                         ids=[f"rule{i}" for i in range(len(BAD_RULES))])
def test_bad_rule_condition_is_refused(profiled, tmp_path, capsys, where, needle):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(profiled / "warehouse.duckdb", ws / "warehouse.duckdb")
    rules = tmp_path / "rules.toml"
    rules.write_text(f"[[segment]]\nname = 'sneaky'\nwhere = '''{where}'''\n",
                     encoding="utf-8")
    before = fingerprint(ws)
    code, lines, err = run_cli(["segment", "--workspace", str(ws), "--rules", str(rules)], capsys)
    assert_one_line_error(code, lines, err, "rule 'sneaky'", needle)
    assert fingerprint(ws) == before


def test_unknown_rule_column_names_the_known_ones(profiled, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(profiled / "warehouse.duckdb", ws / "warehouse.duckdb")
    rules = tmp_path / "rules.toml"
    rules.write_text('[[segment]]\nname = "a"\nwhere = "secret_column > 1"\n')
    before = fingerprint(ws)
    code, lines, err = run_cli(["segment", "--workspace", str(ws), "--rules", str(rules)], capsys)
    assert_one_line_error(code, lines, err, "rule 'a'", "unknown column 'secret_column'",
                          "monetary")
    assert fingerprint(ws) == before
