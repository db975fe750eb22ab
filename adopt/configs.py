"""The stages' options as frozen pydantic models: each default and its help written once.

Data flow: the CLI's flags and their help (`adopt.cli.common.add_config_arguments`),
the pipeline's options (`adopt.pipeline.run_pipeline`) and the API's defaults
(``DEFAULT_K`` in `adopt.audiences`, ``DEFAULT_MAX_K`` in `adopt.curves.build`,
``MIN_SEGMENT_SIZE`` in `adopt.report.privacy`, ...) all read these models. A
field's description is its flag's help; a ``Literal`` type gives its choices.
Building a config with a bad value raises a one-line `ParameterError` naming
the parameter, as `adopt.optimize.spec.PlanSpec` does. The stage functions
check their arguments themselves too (they are called without a config).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adopt._validation import OneLineErrors
from adopt.exceptions import ParameterError


class StageConfig(BaseModel, metaclass=OneLineErrors):
    """Base of the stage configs: frozen, unknown options refused.

    ``SegmentConfig(k=0)`` is one `ParameterError` line; `StageConfig.of`
    validates through `model_validate` and names the caller instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def _parameter_error(cls, exc: ValidationError) -> ParameterError:
        return _one_line(exc, cls.__name__)

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of option `name`."""
        return cls.model_fields[name].default

    @classmethod
    def of(cls, where: str, flags: dict[str, str] | None = None, **values: Any) -> Self:
        """The config of `values`; a bad one is a `ParameterError` naming it in `where`.

        `flags` maps an option to the name the caller knows it by (a CLI flag).
        """
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _one_line(exc, where, flags) from None


def _one_line(exc: ValidationError, where: str,
              flags: dict[str, str] | None = None) -> ParameterError:
    """Pydantic's first error as "The 'k' parameter of <where> must be ... Got 0 instead."."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "value"
    name = (flags or {}).get(name, name)
    msg = err["msg"].removeprefix("Value error, ")
    msg = "is unknown" if err["type"] == "extra_forbidden" else msg.replace(
        "Input should be ", "must be ", 1)
    return ParameterError(f"The '{name}' parameter of {where} {msg}. "
                          f"Got {err.get('input')!r} instead.")


class IngestConfig(StageConfig):
    """How ingest treats a warehouse that already holds data (`adopt.ingest.ingest`)."""

    mode: Literal["append", "replace"] | None = Field(
        None, description="what to do with a warehouse that already holds data: 'replace' its "
        "input tables with this input (atomically), or 'append' to it. Default: append, but "
        "refuse rows that look like data loaded again (see docs/ingest.md)")
    on_duplicate: Literal["refuse", "replace"] = Field(
        "refuse", description="an impression_id the warehouse already holds on a different "
        "row: refuse the ingest, or replace the warehouse's events of that impression")
    partitions: int | None = Field(
        None, ge=1, description="also write users, events and behaviors as N user-hash Parquet "
        "partitions, so the profiles stage runs on Ray over them (default: keep the "
        "workspace's partitioning, if any)", json_schema_extra={"metavar": "N"})


class ProfilesConfig(StageConfig):
    """The profiles stage's options (`adopt.profiles.build_profiles`)."""

    as_of: str | None = Field(None, description="profile reference time (default: last event)")
    memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. 4GB (larger "
                                     "work spills to disk)")
    threads: int | None = Field(None, description="DuckDB threads (default: all; partitioned: "
                                "CPUs a partition task, 1)")


class EmbedConfig(StageConfig):
    """The embed stage's options (`adopt.embeddings.embed_workspace`)."""

    model: str | None = Field(None, description="local BERT model folder (default: MiniLM)")
    batch_size: int | None = Field(None, description="texts per batch")
    actors: int | None = Field(None, description="encoder actors (default: per GPU/CPU)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="matrix-product dtype (auto: bf16 where the GPU or CPU multiplies "
        "it natively, else fp32)")


class TrainConfig(StageConfig):
    """The train stage's options (`adopt.response.run.train_response`) but its split."""

    model: Literal["lightgbm", "bert"] = Field("lightgbm", description="response model")
    num_trials: int = Field(6, ge=1, description="trials of the --tune search",
                            json_schema_extra={"flag": "--trials"})
    downsample_rate: float | None = Field(None, description="share of negatives kept")
    negatives_per_positive: float = Field(
        10, ge=0, description="LightGBM, without --downsample-rate: a target with thousands of "
        "positives fits on at most this many negatives per positive (0: all)")
    vector_components: int = Field(8, ge=0, description="projected components per embedding side "
                                   "(0: the cosine only)")
    validation: Literal["time", "cv"] = Field(
        "time", description="LightGBM: a target whose valid days hold few positives picks its "
        "rounds on the latest days (time; 5-fold CV for thin data) or by 5-fold CV")
    engine: Literal["auto", "local", "ray"] = Field(
        "auto", description="LightGBM: train here, on Ray Train's LightGBMTrainer, or auto "
        "(Ray for large data or with --workers)")
    num_workers: int | None = Field(
        None, ge=1, description="LightGBM on Ray: Train workers (default: one per cluster CPU, up "
        "to 8)", json_schema_extra={"flag": "--workers"})
    creative_folds: int = Field(
        5, ge=0, description="LightGBM: refits, each without a share of the creatives, that "
        "the curves weigh each creative's own logged outcomes against (0: none; against the "
        "model in sample)")


class SplitConfig(StageConfig):
    """The train stage's time split (`adopt.response.split.split_settings` checks it)."""

    valid_days: int | None = Field(
        None, description="days of the valid period, before the test days (default 1)",
        json_schema_extra={"metavar": "N"})
    test_days: int | None = Field(
        None, description="days of the test period, the last ones (default 1)",
        json_schema_extra={"metavar": "N"})
    valid_frac: float | None = Field(
        None, description="instead of days: the share of the examples, in time order, for "
        "valid (sparse or long logs; default 0.15 when --test-frac is given)",
        json_schema_extra={"metavar": "F"})
    test_frac: float | None = Field(
        None, description="instead of days: the last share of the examples for test "
        "(default 0.15 when --valid-frac is given)", json_schema_extra={"metavar": "F"})


class SegmentConfig(StageConfig):
    """The segment stage's options (`adopt.audiences.segment_workspace`)."""

    k: int = Field(12, ge=1, description="k-means segments")
    min_size: int = Field(50, ge=0, description="smaller segments are merged or suppressed")
    rules: str | None = Field(None, description="rule segments (TOML) instead of k-means")


class CurvesConfig(StageConfig):
    """The model-based curve stage's options (`adopt.curves.build_curves`)."""

    max_k: int = Field(10, ge=1, description="impression positions per user")
    users_per_segment: int = Field(300, ge=1, description="users sampled per segment")
    level_users: int = Field(2000, ge=0, description="users per segment, the sampled ones "
                             "among them, whose k = 1 value at one placement each anchors "
                             "the curves' level (at most users_per_segment: the sample alone)")
    n_boot: int = Field(30, ge=0, description="bootstrap resamples",
                        json_schema_extra={"flag": "--bootstrap"})
    frequency: Literal["auto", "logs", "model"] = Field(
        "auto", description="how curves fall with k: fitted within user x campaign pairs of "
        "the logs, or asked of the model; auto takes the logs when they hold enough one-click "
        "pairs")
    creative_metric: Literal["conversions", "clicks", "revenue", "reach", "campaign"] = Field(
        "conversions", description="what each campaign x segment's creative is chosen by: "
        "the plan's objective (reach counts clicks; a plan whose objective differs says so), "
        "or each campaign's own objective (campaign)")
    engine: Literal["auto", "local", "ray"] = Field(
        "auto", description="score the model rows here, on Ray Data actors in parallel "
        "batches, or auto (Ray for large grids); the curves are the same")
    actors: int | None = Field(None, description="Ray Data scoring actors (default: one per "
                               "cluster CPU)")


class ReportConfig(StageConfig):
    """The report's options (`adopt.report.build_report`, `adopt.report.export_plan`)."""

    min_segment_size: int = Field(50, ge=0, description="smaller segments are not shown "
                                  "individually")


def creative_metric_for(objective: str) -> str:
    """The metric the curves choose creatives by for a plan objective (or a
    `CurvesConfig.creative_metric`): a creative does not change who is reached, so a reach
    plan's creatives are chosen by clicks."""
    return "clicks" if objective == "reach" else objective
