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


def test_audience_file_fit_table_and_report_of_skipped_and_undefined(tmp_path: Path, capsys):
    data = _aggregates(noise=0.0).drop(columns="users")
    data["conversions"] = 0.0  # never varies: r2 undefined, not 1.0
    empty = data.iloc[:1].assign(segment="empty", impressions=0.0, spend=0.0, clicks=0.0)
    pd.concat([data, empty]).to_csv(tmp_path / "perf.csv", index=False)
    pd.DataFrame({"segment": ["loyal", "new", "empty"], "users": [1e4, 3e4, 5.0]}).to_csv(
        tmp_path / "users.csv", index=False)
    curves, fit = curves_from_aggregates(tmp_path / "perf.csv", tmp_path / "curves.csv",
                                         users=tmp_path / "users.csv")
    by_segment = curves.groupby("segment")["users"].max()
    assert by_segment["loyal"] == 1e4 and by_segment["new"] == 3e4
    assert by_segment["empty"] == 0  # skipped: nothing to buy
    written = pd.read_csv(tmp_path / "curves.fit.csv")
    assert len(written) == len(fit) and set(written["level"]) == {"cell", "skipped"}
    out = capsys.readouterr().out
    assert "1 skipped" in out and "no impressions observed" in out
    assert "r2 = nan: the metric never varies" in out
    assert "fed last period's allocation" in out
    pd.DataFrame({"segment": ["loyal"], "size": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="segment and users"):
        curves_from_aggregates(tmp_path / "perf.csv", tmp_path / "c.csv",
                               users=tmp_path / "bad.csv")
