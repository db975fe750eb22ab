from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError
from adopt.optimize import build_grid, load_spec, parse_spec, validate_curves
from adopt.optimize.examples import random_curves


@pytest.fixture
def curves() -> pd.DataFrame:
    return random_curves(segments=3, placements=2, positions=3, seed=4)[0]


def test_grid_has_one_row_per_cell_and_passes_extra_columns(curves):
    curves = curves.assign(clicks_lo=curves["clicks"] * 0.9, ad_id="ad7")
    clean = validate_curves(curves)
    assert "clicks_lo" in clean.columns
    grid = build_grid(curves.sample(frac=1, random_state=1))
    assert grid.cpi.shape == (6, 3)
    assert (grid.depth == 3).all()
    assert grid.cells["ad_id"].eq("ad7").all()
    assert (grid.cells["segment_users"] >= grid.cells["users"]).all()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d.drop(columns="revenue"), "column 'revenue': required column is missing"),
        (lambda d: d.assign(users=-d["users"]), "column 'users'.*must be >= 0"),
        (lambda d: d.assign(clicks="x"), "column 'clicks'.*finite number"),
        (lambda d: d[d["k"] != 2], "column 'k'.*without gaps"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "column 'k'.*duplicate"),
        (lambda d: d.assign(k=d["k"] - 1), "column 'k'.*integer >= 1"),
        (lambda d: d.iloc[:0], "table 'curves': the table is empty"),
    ],
)
def test_bad_curves_name_column_and_row(curves, change, match):
    with pytest.raises(InputError, match=match):
        validate_curves(change(curves))


def test_bad_curve_error_names_the_row(curves):
    bad = curves.copy()
    bad.loc[5, "cost_per_impression"] = -1.0
    with pytest.raises(InputError, match="row 6:"):  # 1-based: the sixth data row
        validate_curves(bad)


def test_budget_must_be_positive():
    with pytest.raises(InputError, match=r"'budget' parameter .* positive number. Got -5"):
        parse_spec({"budget": -5, "objective": "clicks"})


def test_spec_errors_name_the_field():
    with pytest.raises(InputError, match="objective"):
        parse_spec({"budget": 5, "objective": "likes"})
    with pytest.raises(InputError, match="constraints"):
        parse_spec({"budget": 5, "constraints": [{"type": "spend", "level": "segment"}]})
    with pytest.raises(InputError, match="period_start"):
        parse_spec({"budget": 5, "constraints": [
            {"type": "campaign_budget", "campaign_id": "c0", "start": "2026-01-01"}]})
    with pytest.raises(InputError, match="budget"):
        parse_spec({"objective": "clicks"})


def test_spec_loads_from_toml_and_is_frozen(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text(
        'budget = 1000.0\nobjective = "revenue"\n'
        '[[constraints]]\ntype = "spend"\nlevel = "segment"\nkey = "s1"\nmin = 100.0\n'
        '[[constraints]]\ntype = "frequency_cap"\ncap = 3\n'
        '[[constraints]]\ntype = "target_roas"\nvalue = 2.5\n'
    )
    spec = load_spec(path)
    assert spec.objective.metric == "revenue"
    assert [c.type for c in spec.constraints] == ["spend", "frequency_cap", "target_roas"]
    with pytest.raises(Exception, match="frozen"):
        spec.budget = 5.0  # type: ignore[misc]
    path.write_text("budget = [")
    with pytest.raises(InputError, match="cannot read the plan file"):
        load_spec(path)


def test_seeded_generator_is_reproducible():
    a, _ = random_curves(seed=3)
    b, _ = random_curves(seed=3)
    assert np.array_equal(a["clicks"].to_numpy(), b["clicks"].to_numpy())
