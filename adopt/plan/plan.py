"""The `Plan` object: one plan folder (allocation, KPIs, frontier, proof) in memory.

Data flow: `adopt.plan.make_plan` makes a plan (`adopt.Planner.plan`, ``adopt
plan`` and the pipeline call it); `Plan` holds what its folder
``plans/<plan_id>/`` stores (allocation, exposure, audiences, frontier,
plan.json), writes it (`save`, the one writer) and gives a planner the views
they think in: KPIs with CPA and ROAS, the budget frontier, shadow prices,
binding constraints, the certificate, the uniform and historical baselines, a
comparison with another plan (`adopt.plan.compare`), the HTML report
(`adopt.report`), a notebook summary (`adopt.plan.html`) and, once delivered, the
forecast against the delivery's events (`actuals`, `adopt.actuals`).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from adopt.exceptions import ParameterError, WorkspaceError
from adopt.optimize.result import TOTALS, PlanResult
from adopt.optimize.spec import PlanSpec, plan_id_problem
from adopt.plan.compare import PlanComparison, compare_tables
from adopt.plan.folder import plan_document, write_plan_folder
from adopt.plan.html import plan_html
from adopt.report.privacy import MIN_SEGMENT_SIZE

if TYPE_CHECKING:
    from adopt.actuals import ActualsCard

KPIS = ("budget", *TOTALS, "cpa", "roas", "gap")
DUAL_COLUMNS = ("name", "kind", "sense", "rhs", "lhs", "slack", "shadow_price", "binding")


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def kpis_of(totals: dict, budget: float | None = None, gap: float | None = None) -> pd.Series:
    """KPIs of a totals dict: the totals plus budget, CPA, ROAS and the certified gap."""
    # plan.json stores a non-finite number as null
    values = {
        name: math.nan if totals.get(name) is None else float(totals[name]) for name in TOTALS
    }
    return pd.Series(
        {
            "budget": math.nan if budget is None else float(budget),
            **values,
            "cpa": _ratio(values["spend"], values["conversions"]),
            "roas": _ratio(values["revenue"], values["spend"]),
            "gap": math.nan if gap is None else float(gap),
        }
    )


@dataclass(eq=False)
class Plan:
    """A certified plan: its allocation, KPIs, frontier, duals and baselines.

    Make one with `adopt.Planner.plan` or read a plan folder with `Plan.load`.

    Attributes
    ----------
    plan_id : str
    allocation : DataFrame
        One row per campaign x segment x placement that gets impressions:
        campaign_id, segment, placement_id, ad_id (when known), users,
        impressions, reach, frequency_cap, avg_frequency, spend, clicks,
        conversions, revenue, marginal_roi.
    document : dict
        The content of plan.json (status, objective, totals, certificate,
        duals, constraints, binding_constraints, inputs, baselines, ...).
    exposure : DataFrame or None
        What an ad server delivers: per campaign x segment x frequency N x
        placement, the users who get exactly N impressions of the campaign
        over all placements and their impressions there (`adopt.delivery`).
    audiences : DataFrame or None
        One row per campaign x segment: users, reach, impressions, spend, outcomes.
    frontier : DataFrame or None
        budget, objective, marginal (objective per extra unit of budget),
        spend, gap, certified.
    folder : Path or None
        Where the plan was last written or read.
    """

    plan_id: str
    allocation: pd.DataFrame
    document: dict
    audiences: pd.DataFrame | None = None
    frontier: pd.DataFrame | None = None
    folder: Path | None = None
    exposure: pd.DataFrame | None = None

    @classmethod
    def from_result(
        cls,
        plan_id: str,
        result: PlanResult,
        inputs: dict | None = None,
        *,
        audiences: pd.DataFrame | None = None,
        frontier: pd.DataFrame | None = None,
        baselines: dict | None = None,
        forecast: dict | None = None,
        aggregates: dict | None = None,
    ) -> Plan:
        """A plan (not yet written) from a solve's `PlanResult` and what goes beside it.

        See `adopt.plan.folder.plan_document` for `inputs`, `baselines`,
        `forecast` and `aggregates`.
        """
        document = plan_document(result, inputs, baselines, plan_id=plan_id,
                                 forecast=forecast, aggregates=aggregates)
        return cls(
            plan_id=plan_id,
            allocation=result.allocation,
            document=document,
            audiences=audiences,
            frontier=frontier,
            exposure=result.exposure,
        )

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Plan:
        """Read a plan folder written by `save` (`make_plan`, `adopt plan`, `Planner.plan`).

        Raises
        ------
        WorkspaceError
            When the folder has no plan.json or allocation.parquet.
        """
        folder = Path(folder).expanduser().resolve()
        for name in ("plan.json", "allocation.parquet"):
            if not (folder / name).is_file():
                raise WorkspaceError(f"{folder} is not a plan folder: {name} is missing.")
        document = json.loads((folder / "plan.json").read_text())

        def optional(name: str) -> pd.DataFrame | None:
            path = folder / name
            return pd.read_parquet(path) if path.is_file() else None

        return cls(
            plan_id=document.get("plan_id") or folder.name,
            allocation=pd.read_parquet(folder / "allocation.parquet"),
            document=document,
            audiences=optional("audiences.parquet"),
            frontier=optional("frontier.parquet"),
            folder=folder,
            exposure=optional("exposure.parquet"),
        )

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the plan folder (allocation, exposure, audiences, frontier, plan.json).

        Every file is written under a temporary name and renamed when all are
        written, so a killed run leaves the previous plan in `folder` whole.
        """
        self.folder = write_plan_folder(
            Path(folder).expanduser().resolve(),
            self.allocation,
            self.document,
            self.audiences,
            self.frontier,
            self.exposure,
        )
        return self.folder

    # -- what the plan says ------------------------------------------------------------

    @property
    def status(self) -> str:
        """The status: "optimal" (certified), "integer" (integer caps) or "uncertified"."""
        return str(self.document.get("status"))

    @property
    def objective(self) -> dict:
        """name, sense ("max" / "min") and value of the objective."""
        return dict(self.document.get("objective") or {})

    @property
    def spec(self) -> PlanSpec | None:
        """The plan spec it was solved with (None when plan.json does not record it)."""
        data = (self.document.get("inputs") or {}).get("spec")
        return None if data is None else PlanSpec.model_validate(data)

    @property
    def budget(self) -> float | None:
        """The total budget of the spec (None for a least-spend plan)."""
        data = (self.document.get("inputs") or {}).get("spec") or {}
        return data.get("budget")

    @property
    def totals(self) -> dict:
        """spend, impressions, reach, clicks, conversions, revenue."""
        return dict(self.document.get("totals") or {})

    @property
    def certificate(self) -> dict:
        """primal, dual, gap (certified when <= 1e-6), violations, complementarity."""
        return dict(self.document.get("certificate") or {})

    @property
    def kpis(self) -> pd.Series:
        """budget, spend, impressions, reach, clicks, conversions, revenue, cpa, roas, gap."""
        return kpis_of(self.totals, self.budget, self.certificate.get("gap")).rename(self.plan_id)

    @property
    def forecast(self) -> dict:
        """Per metric the forecast ``point`` and its interval ``lo``/``hi``, the ``level``
        and the ``basis`` (what the interval covers); see `adopt.optimize.forecast`."""
        return dict(self.document.get("forecast") or {})

    @property
    def duals(self) -> pd.DataFrame:
        """One row per constraint: name, kind, sense, rhs, lhs, slack, shadow_price, binding.

        A shadow price is the objective gained per unit more of the
        constraint's right-hand side (for the budget: per extra unit of money).
        """
        rows = self.document.get("constraints") or []
        return pd.DataFrame(rows, columns=list(DUAL_COLUMNS))

    @property
    def binding(self) -> list[str]:
        """Names of the constraints that hold with equality at a nonzero price."""
        return list(self.document.get("binding_constraints") or [])

    @property
    def baselines(self) -> pd.DataFrame:
        """KPIs of the uniform and historical allocations at the same budget, on the same curves.

        One row per baseline that could be made (historical needs a
        workspace's logs); columns as `kpis`, with the certified gap empty.
        """
        found = self.document.get("baselines") or {}
        rows = {name: kpis_of(totals, self.budget) for name, totals in found.items()}
        return pd.DataFrame(rows, index=list(KPIS)).T.drop(columns="gap")

    @property
    def aggregates(self) -> dict:
        """For curves fitted to aggregates: fit quality, spend beyond observed, guard rail and
        the historical check (see ``docs/curves.md``); empty otherwise."""
        return dict(self.document.get("aggregates") or {})

    @property
    def notes(self) -> list[str]:
        """What the solver wants a planner to know (fallbacks, dropped rows, ...)."""
        return list(self.document.get("notes") or [])

    # -- comparisons and exports ----------------------------------------------------------

    def compare(self, other: Plan) -> PlanComparison:
        """What changes from `other` to this plan, and what the extra spend buys.

        Deltas are this plan minus `other`; see `adopt.plan.compare.PlanComparison`.
        """
        if not isinstance(other, Plan):
            raise ParameterError(f"The 'other' parameter of Plan.compare must be a Plan. "
                                 f"Got {other!r} instead.")
        names = ("this", "other") if self.plan_id == other.plan_id else (self.plan_id,
                                                                          other.plan_id)
        return compare_tables(names, (self.kpis, other.kpis), (self.allocation, other.allocation))

    def to_html(
        self,
        path: str | os.PathLike[str],
        *,
        workspace: str | os.PathLike[str] | None = None,
        min_segment_size: int = MIN_SEGMENT_SIZE,
    ) -> Path:
        """Write the allocation report (one self-contained HTML file).

        Parameters
        ----------
        path : path
            The HTML file to write.
        workspace : path, optional
            For segment portraits and model quality; default: the workspace
            recorded in plan.json (``inputs.workspace``).
        min_segment_size : int
            Segments smaller than this are not shown individually.

        Returns
        -------
        Path
        """
        from adopt.report import build_report

        workspace = workspace or (self.document.get("inputs") or {}).get("workspace")
        if self.folder is not None and (self.folder / "plan.json").is_file():
            return Path(
                build_report(
                    self.folder, path, workspace=workspace, min_segment_size=min_segment_size
                )
            )
        with tempfile.TemporaryDirectory(prefix="adopt-plan-") as tmp:
            # a plan_id read from someone's plan.json stays a plain name inside tmp
            folder = Path(tmp) / ("plan" if plan_id_problem(self.plan_id) else self.plan_id)
            self.save(folder)
            try:
                return Path(
                    build_report(
                        folder, path, workspace=workspace, min_segment_size=min_segment_size
                    )
                )
            finally:
                self.folder = None  # the temporary folder goes away

    def actuals(
        self,
        workspace: str | os.PathLike[str] | None = None,
        *,
        start: object = None,
        end: object = None,
        min_segment_size: int = MIN_SEGMENT_SIZE,
    ) -> ActualsCard:
        """This plan's forecast against its delivery's events (`adopt.actuals.check_actuals`).

        Load the delivery's events first (``Planner.ingest``); the card is also written
        to the plan folder (actuals.json).

        Parameters
        ----------
        workspace : path, optional
            Whose warehouse holds the delivery (default: the one the plan folder sits
            in, else the plan's).
        start, end : date or time, optional
            The delivery period [start, end) (default: the plan's period).
        min_segment_size : int
            Campaign x segment rows of smaller segments are merged.
        """
        from adopt.actuals import check_actuals

        if self.folder is None or not (self.folder / "plan.json").is_file():
            raise WorkspaceError("Plan.actuals needs a saved plan: save it (Plan.save) or "
                                 "load it from its folder first.")
        card = check_actuals(self.folder, workspace, start=start, end=end,
                             min_segment_size=min_segment_size)
        card.save(self.folder)
        return card

    def _repr_html_(self) -> str:
        kpis = pd.DataFrame({"plan": self.kpis})
        for name, row in self.baselines.iterrows():
            kpis[name] = row
        return plan_html(self.plan_id, self.status, self.objective, self.certificate.get("gap"),
                         kpis, self.binding, self.allocation, self.frontier, self.notes)

    def __repr__(self) -> str:
        k = self.kpis
        value = self.objective.get("value")
        return (
            f"Plan({self.plan_id!r}, {self.status}, {self.objective.get('name')}="
            f"{math.nan if value is None else value:,.4g}, spend={k['spend']:,.2f}, "
            f"cells={len(self.allocation)}, gap={k['gap']:.1e})"
        )


def write_plan(
    result: PlanResult,
    folder: str | os.PathLike[str],
    inputs: dict | None = None,
    audiences: pd.DataFrame | None = None,
    *,
    frontier: pd.DataFrame | None = None,
    baselines: dict | None = None,
    forecast: dict | None = None,
    aggregates: dict | None = None,
) -> Path:
    """Save a `PlanResult` as the plan folder `folder` (its name is the plan id): `Plan.save`."""
    plan = Plan.from_result(Path(folder).name, result, inputs, audiences=audiences,
                            frontier=frontier, baselines=baselines, forecast=forecast,
                            aggregates=aggregates)
    return plan.save(folder)
