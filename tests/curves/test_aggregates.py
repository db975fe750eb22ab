"""curves_from_aggregates: fit, write atomically, report the fit quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adopt.curves.aggregates import curves_from_aggregates, fit_report
from adopt.exceptions import InputError
from adopt.optimize import validate_curves


def _aggregates(noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for seg, scale in (("loyal", 40_000.0), ("new", 90_000.0)):
        for p, cpm in (("home", 10.0), ("search", 30.0)):
            for period, imps in enumerate(np.linspace(5_000, 150_000, 8)):
                clicks = 900 * (1 - np.exp(-imps / scale)) * (1 + noise * rng.normal())
                rows.append({"segment": seg, "placement_id": p, "period": period,
                             "spend": imps * cpm / 1000, "impressions": imps, "users": 20_000,
                             "clicks": clicks, "conversions": 0.05 * clicks,
                             "revenue": 2.0 * clicks})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_fits_writes_and_reports(tmp_path: Path, suffix: str, capsys) -> None:
    src = tmp_path / "perf.csv"
    _aggregates(noise=0.0).to_csv(src, index=False)
    out = tmp_path / f"curves{suffix}"
    curves, fit = curves_from_aggregates(src, out, positions=4)
    assert fit["r2"].min() > 0.99
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(validate_curves(written)) == len(curves) == 4 * 4
    assert "r2 median" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_poor_fits_are_flagged() -> None:
    fit = pd.DataFrame({"campaign_id": ["all", "all"], "segment": ["a", "b"],
                        "placement_id": ["p", "p"], "metric": ["clicks", "clicks"],
                        "a": [1.0, 1.0], "s": [1.0, 1.0], "r2": [0.97, 0.1], "periods": [6, 6]})
    report = fit_report(fit)
    assert report.count("POOR FIT") == 1
    assert "1 fit(s) with r2 < 0.5" in report


def test_bad_output_suffix_and_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "perf.parquet"
    _aggregates(noise=0.0).to_parquet(src)
    with pytest.raises(InputError, match=r"must end in \.parquet or \.csv"):
        curves_from_aggregates(src, tmp_path / "curves.json")
    _aggregates(noise=0.0).drop(columns=["spend"]).to_parquet(src)
    with pytest.raises(InputError, match="spend"):
        curves_from_aggregates(src, tmp_path / "curves.parquet")
    assert not (tmp_path / "curves.parquet").exists()
