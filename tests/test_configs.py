"""The stage configs: each default written once, read by the CLI, the pipeline and the API."""

from __future__ import annotations

import argparse
import inspect
import typing
from pathlib import Path

import pytest

from adopt.cli import build_parser, main
from adopt.cli.common import flag_of
from adopt.configs import (
    CurvesConfig,
    EmbedConfig,
    IngestConfig,
    ProfilesConfig,
    ReportConfig,
    SegmentConfig,
    SplitConfig,
    StageConfig,
    TrainConfig,
)
from adopt.exceptions import AdoptError, ParameterError

# subcommand -> the configs its flags come from: (config, options or None for all, renames)
FLAGS = {
    "ingest": [(IngestConfig, None, {})],
    "profiles": [(ProfilesConfig, None, {})],
    "embed": [(EmbedConfig, None, {})],
    "train": [(TrainConfig, None, {}), (SplitConfig, None, {})],
    "segment": [(SegmentConfig, None, {})],
    "curves": [(CurvesConfig, None, {})],
    "report": [(ReportConfig, None, {})],
    "run": [(TrainConfig, ("model",), {}), (EmbedConfig, ("model",), {"model": "--embed-model"}),
            (IngestConfig, None, {"mode": "--ingest-mode"}), (SplitConfig, None, {}),
            (SegmentConfig, None, {}),
            (CurvesConfig, ("max_k", "users_per_segment", "level_users", "n_boot"), {})],
}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _literal(annotation: object) -> tuple | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return None


@pytest.mark.parametrize("command", sorted(FLAGS))
def test_every_flag_has_its_configs_default_and_description(command: str) -> None:
    actions = {s: a for a in _subparser(command)._actions for s in a.option_strings}
    for config, names, renames in FLAGS[command]:
        for name in names or config.model_fields:
            field = config.model_fields[name]
            flag = renames.get(name) or flag_of(config, name)
            action = actions[flag]
            assert action.dest == (flag[2:].replace("-", "_") if name in renames else name)
            assert action.default == field.default
            assert action.help.startswith(field.description)
            assert action.choices == _literal(field.annotation)
            if field.default is not None:
                assert action.help.endswith(f"(default {field.default})")


def test_the_flag_names_are_the_clis() -> None:
    assert flag_of(CurvesConfig, "n_boot") == "--bootstrap"
    assert flag_of(TrainConfig, "num_workers") == "--workers"
    assert flag_of(SegmentConfig, "min_size") == "--min-size"
    assert flag_of(ReportConfig, "min_segment_size") == "--min-segment-size"


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["segment", "--k", "0"], "'--k' parameter of adopt segment"),
        (["train", "--trials", "0"], "'--trials' parameter of adopt train"),
        (["curves", "--bootstrap", "-1"], "'--bootstrap' parameter of adopt curves"),
        (["run", "--users-per-segment", "0"], "'--users-per-segment' parameter of adopt run"),
        (["run", "--partitions", "0"], "'--partitions' parameter of adopt run"),
        (["ingest", "data", "--partitions", "0"], "'--partitions' parameter of adopt ingest"),
    ],
)
def test_a_bad_value_on_the_command_line_is_one_line_and_exit_2(
        argv: list[str], flag: str, tmp_path: Path, capsys, own_log_handler) -> None:
    ws = tmp_path / "ws"
    code = main([*argv, "--workspace", str(ws)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and flag in err[0] and "Traceback" not in err[0]
    assert not ws.exists()  # refused before any stage ran


def test_report_refuses_a_bad_minimum_size_before_writing(tmp_path: Path, capsys,
                                                          own_log_handler) -> None:
    out = tmp_path / "report.html"
    code = main(["report", "--plan", str(tmp_path), "--out", str(out),
                 "--min-segment-size", "-1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "'--min-segment-size' parameter" in err[0]
    assert not out.exists()


def test_a_config_built_in_python_is_frozen_and_one_line_on_a_bad_value() -> None:
    config = SegmentConfig(k=4)
    assert (config.k, config.min_size) == (4, SegmentConfig.default("min_size"))
    with pytest.raises(Exception, match="frozen"):
        config.k = 5  # type: ignore[misc]
    with pytest.raises(ParameterError, match=r"^The 'k' parameter of SegmentConfig must be "
                       r"greater than or equal to 1\. Got 0 instead\.$"):
        SegmentConfig(k=0)
    with pytest.raises(ParameterError, match="'mode' parameter of IngestConfig must be "
                       "'append' or 'replace'. Got 'overwrite'"):
        IngestConfig(mode="overwrite")
    with pytest.raises(ParameterError, match="'bootstrap' parameter of CurvesConfig is unknown"):
        CurvesConfig(bootstrap=3)
    with pytest.raises(ParameterError, match="'--k' parameter of adopt run"):
        SegmentConfig.of("adopt run", flags={"k": "--k"}, k=-1)


def test_every_option_has_a_description() -> None:
    for config in StageConfig.__subclasses__():
        for name, field in config.model_fields.items():
            assert field.description, f"{config.__name__}.{name}"


def test_the_api_defaults_are_the_configs() -> None:
    from adopt import Planner
    from adopt.audiences import segment_workspace
    from adopt.curves import build_curves
    from adopt.embeddings import embed_workspace
    from adopt.ingest import ingest
    from adopt.pipeline import run_pipeline
    from adopt.profiles import build_profiles
    from adopt.report import build_report, export_plan
    from adopt.response.run import train_response

    def defaults(func) -> dict:
        return {n: p.default for n, p in inspect.signature(func).parameters.items()}

    segment, curves = SegmentConfig(), CurvesConfig()
    for func in (segment_workspace, Planner.segment):
        assert defaults(func).items() >= dict(segment).items()
    assert defaults(build_curves).items() >= dict(curves).items()
    assert defaults(Planner.curves)["max_k"] == curves.max_k
    assert defaults(ingest).items() >= dict(IngestConfig()).items()
    assert defaults(train_response).items() >= (dict(TrainConfig()) | dict(SplitConfig())).items()
    assert defaults(Planner.train)["model"] == TrainConfig().model
    assert defaults(embed_workspace).items() >= dict(EmbedConfig()).items()
    assert defaults(build_profiles).items() >= dict(ProfilesConfig()).items()
    for func in (build_report, export_plan):
        assert defaults(func).items() >= dict(ReportConfig()).items()
    run = defaults(run_pipeline)
    assert (run["model"], run["embed_model"]) == (TrainConfig().model, EmbedConfig().model)
    assert run.items() >= (dict(segment) | dict(ReportConfig()) | dict(SplitConfig())).items()
    assert (run["max_k"], run["users_per_segment"], run["level_users"], run["n_boot"]) == (
        curves.max_k, curves.users_per_segment, curves.level_users, curves.n_boot)
    assert (run["ingest_mode"], run["on_duplicate"], run["partitions"]) == tuple(
        dict(IngestConfig()).values())


def test_the_pipelines_manifest_records_the_config_defaults(tmp_path: Path) -> None:
    from adopt.pipeline import run_pipeline
    from adopt.pipeline.runs import Manifest

    with pytest.raises(AdoptError):  # an empty workspace: profiles has no warehouse
        run_pipeline(tmp_path, None, stages=["profiles"], run_id="defaults")
    params = Manifest.load(tmp_path, "defaults").params
    assert (params["model"], params["embed_model"]) == (TrainConfig().model, EmbedConfig().model)
    curves = CurvesConfig()
    assert params.items() >= (dict(SegmentConfig()) | dict(ReportConfig())).items()
    assert (params["max_k"], params["users_per_segment"], params["level_users"],
            params["n_boot"]) == (curves.max_k, curves.users_per_segment, curves.level_users,
                                  curves.n_boot)
    ingest = IngestConfig()
    assert params["ingest"] == {"mode": ingest.mode, "on_duplicate": ingest.on_duplicate}
