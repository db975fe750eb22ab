"""`Planner`: the facade a campaign planner uses, from raw logs to a `Plan`.

Data flow: one workspace, one method per stage, in the order of DESIGN.md:
`ingest` -> `build_profiles` -> `embed` -> `train` -> `segment` -> `curves`
-> `plan` (-> `Plan.to_html`), plus `recommend` (top ads for one user) and
`evaluate`. Each method checks its arguments (`ParameterError` naming the
parameter, what is allowed and what it got), calls the stage function,
logs, and returns the stage's summary. Stage modules are imported inside the
methods, so ``import adopt`` loads neither torch, ray nor lightgbm.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from adopt._validation import check_choice, check_int
from adopt.configs import CurvesConfig, SegmentConfig, TrainConfig
from adopt.exceptions import ParameterError
from adopt.workspace import Workspace

if TYPE_CHECKING:
    from adopt.audiences import Rule, RuleSet, SegmentSummary
    from adopt.curves import CurvesSummary
    from adopt.embeddings import EmbedSummary
    from adopt.ingest import IngestSummary
    from adopt.plan import Plan
    from adopt.profiles import ProfilesSummary
    from adopt.response.card import ModelCard

log = logging.getLogger("adopt")

RESPONSE_MODELS = ("lightgbm", "bert")
# the stages' defaults
_SEGMENT, _CURVES, _TRAIN = SegmentConfig(), CurvesConfig(), TrainConfig()


def _call(stage: str, func: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Run a stage function with the options it knows, and log what it returned."""
    known = inspect.signature(func).parameters
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = sorted(
            n
            for n, p in known.items()
            if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and n != "workspace")
        )
        raise ParameterError(
            f"Planner.{stage} got unknown option(s) {unknown}. Valid options: {valid}."
        )
    start = time.perf_counter()
    log.info("planner: %s ...", stage)
    summary = func(*args, **options)
    log.info("planner: %s done in %.1f s", stage, time.perf_counter() - start)
    return summary


class Planner:
    """From raw ad logs to a certified plan, in one workspace.

    Parameters
    ----------
    workspace : path
        The workspace folder (created when missing): warehouse.duckdb,
        models/, curves/, plans/, reports/.

    Examples
    --------
    >>> planner = adopt.Planner("ws")                       # doctest: +SKIP
    >>> planner.ingest("data/"); planner.build_profiles()   # doctest: +SKIP
    >>> planner.train(); planner.segment(k=12); planner.curves()  # doctest: +SKIP
    >>> plan = planner.plan(budget=100_000, objective="conversions")  # doctest: +SKIP
    """

    def __init__(self, workspace: str | os.PathLike[str]) -> None:
        if not isinstance(workspace, str | os.PathLike):
            raise ParameterError(
                f"The 'workspace' parameter of Planner must be a path. Got {workspace!r} instead."
            )
        root = Path(workspace).expanduser()
        if root.exists() and not root.is_dir():
            raise ParameterError(
                f"The 'workspace' parameter of Planner must be a folder (new or existing). "
                f"Got {str(workspace)!r} instead (an existing file)."
            )
        self.workspace = Workspace(workspace).ensure()
        self.run_id: str | None = None

    def __repr__(self) -> str:
        return f"Planner({str(self.workspace.root)!r})"

    # -- stages ---------------------------------------------------------------------------

    def ingest(self, data_dir: str | os.PathLike[str], **options: Any) -> IngestSummary:
        """Validate input files and load them into the warehouse (`adopt.ingest.ingest`).

        Parameters
        ----------
        data_dir : path
            Folder with one file (or folder of files) per table of the input contract.
        **options
            Passed on: ``mode`` (None, "append" or "replace": what happens to a
            warehouse that already holds data), ``on_duplicate`` ("refuse" or
            "replace"), ``pseudonymize_salt``; see `adopt.ingest.ingest`.

        Returns
        -------
        IngestSummary
            Rows read, loaded, replaced and dropped per table.
        """
        from adopt.ingest import ingest

        if not isinstance(data_dir, str | os.PathLike) or not Path(data_dir).is_dir():
            raise ParameterError(
                f"The 'data_dir' parameter of Planner.ingest must be a folder "
                f"with one file per table. Got {data_dir!r} instead."
            )
        return _call("ingest", ingest, data_dir, self.workspace.root, **options)

    def build_profiles(self, **options: Any) -> ProfilesSummary:
        """Build user_profiles, ad_history and training_examples (`adopt.profiles`).

        Parameters
        ----------
        **options
            Passed on, e.g. ``as_of``, ``memory_limit``.

        Returns
        -------
        ProfilesSummary
        """
        from adopt.profiles import build_profiles

        return _call("build_profiles", build_profiles, self.workspace.root, **options)

    def embed(
        self,
        model: str | os.PathLike[str] | None = None,
        address: str | None = None,
        **options: Any,
    ) -> EmbedSummary:
        """Embed ad creatives and user interests with BERT on Ray (`adopt.embeddings`).

        Parameters
        ----------
        model : path, optional
            A local BERT-family model folder (default: the bundled all-MiniLM-L6-v2).
        address : str, optional
            A Ray cluster to join (default: a local Ray).
        **options
            Passed on, e.g. ``batch_size``, ``actors``.

        Returns
        -------
        EmbedSummary
        """
        from adopt.embeddings import embed_workspace

        return _call(
            "embed", embed_workspace, self.workspace.root, model=model, address=address, **options
        )

    def train(self, model: str = _TRAIN.model, **options: Any) -> ModelCard:
        """Train a response model; `curves`, `evaluate` and `recommend` then use this run.

        Parameters
        ----------
        model : str
            "lightgbm" or "bert".
        **options
            Passed on, e.g. ``tune``, ``params``, ``run_id``, ``valid_days`` /
            ``test_days`` or ``valid_frac`` / ``test_frac`` (the time split).

        Returns
        -------
        ModelCard
            Metrics against the base rate, features, hyperparameters.
        """
        check_choice("Planner.train", "model", model, RESPONSE_MODELS)
        from adopt.response.run import train_response

        card = _call("train", train_response, self.workspace.root, model=model, **options)
        self.run_id = card.run_id
        return card

    def evaluate(self, run_id: str | None = None) -> pd.DataFrame:
        """Test metrics of a response model beside the base-rate predictor.

        Parameters
        ----------
        run_id : str, optional
            Default: the model trained here, else the latest.

        Returns
        -------
        DataFrame
            AUC, log loss, NE, calibration ... overall, per placement, cold-start ads.
        """
        from adopt.response.run import evaluate_response

        return _call(
            "evaluate", evaluate_response, self.workspace.root, run_id=run_id or self.run_id
        )

    def segment(
        self,
        k: int = _SEGMENT.k,
        min_size: int = _SEGMENT.min_size,
        rules: str | os.PathLike[str] | list[Rule] | RuleSet | None = None,
        seed: int = 0,
        attributes: Sequence[str] | str | None = None,
    ) -> SegmentSummary:
        """Build audiences: k-means segments of the profiles, or a planner's SQL rules.

        Parameters
        ----------
        k : int
            Number of k-means segments.
        min_size : int
            Segments below this many users are merged or suppressed.
        rules : path or rules, optional
            Rule segments instead of k-means (see `adopt.audiences.rules`).
        seed : int
        attributes : list of str, "all", "none" or None
            K-means: user attributes to cluster on too (default: all of them when
            the profiles have no category affinity and no interest vectors).

        Returns
        -------
        SegmentSummary
        """
        check_int("Planner.segment", "k", k, minimum=2)
        check_int("Planner.segment", "min_size", min_size, minimum=1)
        from adopt.audiences import segment_workspace

        return _call(
            "segment",
            segment_workspace,
            self.workspace.root,
            k=k,
            min_size=min_size,
            rules=rules,
            seed=seed,
            attributes=attributes,
        )

    def curves(self, run_id: str | None = None, max_k: int = _CURVES.max_k,
               **options: Any) -> CurvesSummary:
        """Response curves per campaign x segment x placement x k (`adopt.curves`).

        Parameters
        ----------
        run_id : str, optional
            The response model (default: the one trained here, else the latest).
        max_k : int
            Impression positions per user.
        **options
            Passed on, e.g. ``users_per_segment``, ``n_boot``, ``days``, ``frequency``,
            ``creative_metric`` (what each cell's creative is chosen by; default
            conversions: pass the plans' objective).

        Returns
        -------
        CurvesSummary
        """
        check_int("Planner.curves", "max_k", max_k, minimum=1)
        from adopt.curves import build_curves

        return _call(
            "curves",
            build_curves,
            self.workspace.root,
            run_id=run_id or self.run_id,
            max_k=max_k,
            **options,
        )

    # -- planning -------------------------------------------------------------------------

    def plan(
        self,
        campaigns: Sequence[Any] | None = None,
        budget: float | None = None,
        objective: Any = None,
        constraints: Sequence[Any] = (),
        spec: Any = None,
        integer_caps: bool | None = None,
        frontier: bool | Sequence[float] = True,
        *,
        curves: pd.DataFrame | str | os.PathLike[str] | None = None,
        placements: pd.DataFrame | str | os.PathLike[str] | None = None,
        plan_id: str | None = None,
        baselines: bool = True,
        method: str = "auto",
        save: bool = True,
        max_spend_multiple: float | bool | None = None,
    ) -> Plan:
        """Find the certified-optimal plan and write it to ``plans/<plan_id>/``.

        The planner's door to `adopt.plan.make_plan`, which ``adopt plan`` and
        the pipeline call too: the same inputs give the same plan and plan_id.

        Parameters
        ----------
        campaigns : sequence, optional
            The campaigns to plan: campaign ids, or `adopt.CampaignBudget`
            objects (which also add their spend limits and flight). Default:
            every campaign in the curves.
        budget : float, optional
            Total spend ceiling; replaces the spec's.
        objective : str, Objective or dict, optional
            "clicks", "conversions", "revenue" or "reach", or
            ``{"metric": ..., "target": ...}`` for the least spend that reaches
            a target. Default: the spec's, else "conversions".
        constraints : sequence
            Constraint objects (`adopt.min_spend(...)`, `adopt.frequency_cap(3)`,
            ...), added to the spec's.
        spec : PlanSpec, dict or path, optional
            A plan spec, or a TOML plan file (format: ``adopt/optimize/README.md``).
        integer_caps : bool, optional
            Integer frequency caps (default: the spec's, else False).
        frontier : bool or sequence of float
            Also solve the budget frontier: True for budgets around the plan's,
            or the budgets to solve.
        curves : DataFrame or path, optional
            The curves table; default ``<workspace>/curves/curves.parquet``.
        placements : DataFrame or path, optional
            placement_id, inventory; default the workspace's when `curves` is
            the workspace's.
        plan_id : str, optional
            Default: the spec's, else a hash of the spec and the curves.
        baselines : bool
            Evaluate the uniform and historical allocations at the same budget.
        method : str
            Solver: "auto", "structured", "highs", "highs-ds" or "highs-ipm".
        save : bool
            Write the plan folder under the workspace's ``plans/``.
        max_spend_multiple : float or False, optional
            Guard rail for curves fitted to aggregates: no cell spends more
            than this multiple of the largest spend observed for it; False
            turns it off. Default: the spec's (2).

        Returns
        -------
        Plan

        Raises
        ------
        ParameterError
            An argument outside what it allows.
        InputError
            A bad plan file or curves table, or a constraint naming an unknown
            campaign, segment or placement.
        InfeasibleError
            The constraints conflict (the message says which, and by how much).
        """
        from adopt.plan import make_plan

        return make_plan(
            spec,
            workspace=self.workspace.root,
            curves=curves,
            placements=placements,
            campaigns=campaigns,
            budget=budget,
            objective=objective,
            constraints=constraints,
            integer_caps=integer_caps,
            plan_id=plan_id,
            max_spend_multiple=max_spend_multiple,
            frontier=frontier,
            baselines=baselines,
            method=method,
            save=save,
            where="Planner.plan",
        )

    def load_plan(self, plan_id: str) -> Plan:
        """Read ``plans/<plan_id>/`` of this workspace.

        Parameters
        ----------
        plan_id : str

        Returns
        -------
        Plan
        """
        from adopt.plan import Plan, plan_folder

        return Plan.load(plan_folder(self.workspace.plans, plan_id, "Planner.load_plan"))

    # -- recommendation -------------------------------------------------------------------

    def recommend(
        self,
        user_id: str,
        k: int = 5,
        placement_id: str | None = None,
        by: str = "revenue",
        run_id: str | None = None,
    ) -> pd.DataFrame:
        """The top `k` ads for one user by predicted value (personalised recommendation).

        Every ad is scored for the user's first impression at `placement_id`
        (or at every placement, keeping each ad's best) with the response
        model (`adopt.curves.predict_pairs`).

        Parameters
        ----------
        user_id : str
        k : int
            How many ads.
        placement_id : str, optional
        by : str
            Rank by expected "revenue", "conversions" or "clicks".
        run_id : str, optional
            The response model under ``models/`` (default: the one trained
            here, else the latest).

        Returns
        -------
        DataFrame
            rank, ad_id, campaign_id, title, placement_id, p_click,
            p_conversion, expected_revenue, best first.
        """
        from adopt.curves import recommend

        return recommend(self.workspace, user_id, k, placement_id, by,
                         run_id or self.run_id, where="Planner.recommend")
