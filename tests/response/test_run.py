from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from adopt.exceptions import InputError, WorkspaceError
from adopt.response.card import ModelCard, data_fingerprint
from adopt.response.metrics import format_metrics
from adopt.response.run import (
    evaluate_response,
    latest_run,
    load_examples,
    load_response,
    predict_response,
    train_response,
)

from .conftest import make_examples, write_warehouse

FAST = {"num_threads": 1, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def trained(examples, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    card = train_response(ws, "lightgbm", examples=examples, run_id="lgbm-a",
                          params={"num_threads": 1, "learning_rate": 0.1})
    return ws, card


def test_run_folder_holds_model_and_card(trained, examples):
    ws, card = trained
    folder = ws / "models" / "lgbm-a"
    assert {"lgbm_click.txt", "lgbm_conversion.txt", "lgbm.json", "card.json", "card.md"} <= {
        p.name for p in folder.iterdir()}
    assert not list((ws / "models").glob(".*partial"))
    read = ModelCard.read(folder)
    assert read.data["fingerprint"] == data_fingerprint(examples)
    assert read.data["split"]["test"]["first_day"] == "2026-01-05"
    assert read.library_versions["lightgbm"] == card.library_versions["lightgbm"]
    assert read.importance[0]["feature"] == "cosine_user_ad"
    assert "## Metrics (test)" in (folder / "card.md").read_text()


def test_card_metrics_cover_targets_slices_and_base_rate(trained):
    m = trained[1].metrics_frame()
    assert set(m["target"]) == {"click", "conversion"}
    assert set(m["slice"]) == {"overall", "placement_id", "cold_start"}
    assert set(m["predictor"]) == {"model", "base_rate"}
    click = m[(m["target"] == "click") & (m["slice"] == "overall")].set_index("predictor")
    assert click.loc["model", "ne"] < click.loc["base_rate", "ne"]
    cold = m[(m["target"] == "click") & (m["slice"] == "cold_start") & (m["group"])]
    assert len(cold) == 2  # cold-start ads exist in this world's test day


def test_evaluate_reproduces_the_card(trained, examples):
    ws, card = trained
    assert latest_run(ws) == "lgbm-a"
    table = evaluate_response(ws, examples=examples)
    pd.testing.assert_frame_equal(
        table.drop(columns="group"), card.metrics_frame().drop(columns="group"),
        check_dtype=False,
    )


def test_examples_come_from_the_warehouse(examples, tmp_path):
    flat = examples.drop(columns=["user_vec", "ad_vec"]).iloc[::5]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.register("flat", flat)
        # the warehouse stores labels as booleans and numbers rows with impression_key
        con.execute("create table training_examples as select row_number() over () as "
                    "impression_key, * replace (clicked::boolean as clicked, "
                    "converted::boolean as converted) from flat")
    got = load_examples(tmp_path)
    assert len(got) == len(flat)
    assert np.array_equal(got["clicked"].to_numpy(), flat["clicked"].to_numpy() == 1)
    card = train_response(tmp_path, "lightgbm", params={"num_threads": 1}, run_id="from-wh")
    assert "impression_key" not in card.features
    assert card.data["rows"] == len(flat)


def test_missing_warehouse_or_table_or_run_is_a_workspace_error(tmp_path):
    with pytest.raises(WorkspaceError,
                       match="No warehouse at .*run `adopt ingest DATA_DIR --workspace WS` first"):
        load_examples(tmp_path)
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()
    with pytest.raises(WorkspaceError, match="has no table 'training_examples'"):
        load_examples(tmp_path)
    with pytest.raises(WorkspaceError, match="No trained model under"):
        evaluate_response(tmp_path)
    with pytest.raises(ValueError, match="'model' parameter of train_response must be one of"):
        train_response(tmp_path, "xgboost")


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory):
    """The same examples in a workspace with embeddings and in one without."""
    examples = make_examples(n=6000, users=150, ads=25, days=5, seed=11)
    with_emb, without = tmp_path_factory.mktemp("emb"), tmp_path_factory.mktemp("noemb")
    write_warehouse(with_emb, examples)
    write_warehouse(without, examples, embeddings=False)
    return with_emb, without


def test_train_uses_embeddings_when_the_workspace_has_them(warehouses):
    ws = warehouses[0]
    card = train_response(ws, "lightgbm", params=FAST, run_id="emb")
    assert card.data["embeddings"] == {"used": True, "model_id": "test-model@0",
                                       "columns": ["user_vec", "ad_vec"], "components": 8}
    assert {"cosine_user_ad", "user_vec_pc0", "ad_vec_pc7", "user_vec_missing"} <= set(
        card.features)
    assert "embedding features: from `test-model@0`" in (ws / "models/emb/card.md").read_text()
    # evaluate attaches the vectors itself and reproduces the card
    table = evaluate_response(ws, run_id="emb")
    np.testing.assert_allclose(table["auc"], card.metrics_frame()["auc"])
    assert "cold-start ads" in format_metrics(table)


def test_train_without_embeddings_trains_without_them_and_the_card_says_so(warehouses):
    ws = warehouses[1]
    card = train_response(ws, "lightgbm", params=FAST, run_id="noemb")
    assert card.data["embeddings"]["used"] is False
    assert "run `adopt embed`" in card.data["embeddings"]["why"]
    assert not [f for f in card.features if "vec" in f or "cosine" in f]
    assert "embedding features: none" in (ws / "models/noemb/card.md").read_text()
    assert evaluate_response(ws, run_id="noemb")["auc"].notna().any()


def test_predict_on_new_rows_rebuilds_the_training_columns(warehouses):
    ws = warehouses[0]
    model = load_response(ws / "models" / "emb")
    examples = load_examples(ws, text_features=True)
    # counterfactual rows as the curves stage builds them: ids and tabular columns only
    rows = examples.drop(columns=["user_vec", "ad_vec", "user_vec_missing", "ad_vec_missing",
                                  "cosine_user_ad"]).iloc[:500].assign(k_ad=3)
    got = predict_response(ws, rows, run_id="emb")
    want = model.predict(examples.iloc[:500].assign(k_ad=3))
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(InputError, match="column 'user_vec'.*attach_text_features"):
        model.predict(rows)


def test_train_takes_a_split_in_shares_and_evaluate_repeats_it(tmp_path):
    examples = make_examples(n=4000, days=6, seed=3)
    card = train_response(tmp_path, "lightgbm", examples=examples, run_id="frac",
                          params=FAST, valid_frac=0.25, test_frac=0.2)
    assert (card.data["valid_frac"], card.data["test_frac"]) == (0.25, 0.2)
    assert card.data["valid_days"] is None
    assert card.data["split"]["test"]["rows"] == 4000 - int(4000 * 0.8)
    table = evaluate_response(tmp_path, "frac", examples=examples)
    pd.testing.assert_frame_equal(
        table.drop(columns="group"), card.metrics_frame().drop(columns="group"),
        check_dtype=False,
    )


def test_train_refuses_a_valid_split_without_clicks_and_says_what_to_change(tmp_path):
    examples = make_examples(n=4000, days=6, seed=3)
    late = examples["ts"] >= pd.Timestamp("2026-01-05")
    examples.loc[late & (examples["ts"] < pd.Timestamp("2026-01-06")),
                 ["clicked", "converted"]] = 0  # the valid day: no click
    with pytest.raises(InputError, match=r"column 'clicked': the valid split \(2026-01-05 to "
                       r"2026-01-05\) has \d+ rows and 0 positives .*--valid-days 2 "
                       r"\(valid_days=2\)"):
        train_response(tmp_path, "lightgbm", examples=examples, params=FAST)
    card = train_response(tmp_path, "lightgbm", examples=examples, params=FAST, valid_days=2)
    assert card.data["valid_days"] == 2
