"""The pure parts of batch prediction: the live error on labelled rows and the published table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from salary.drops.predict import live_metrics, prediction_table


def rows(salary=None) -> pd.DataFrame:
    df = pd.DataFrame({"id": [1, 2, 3], "age": np.array([20, 30, 40], np.int32), "is_active": [True, False, True],
                       "signup_date": [dt.date(2025, 1, 1)] * 3})
    if salary is not None:
        df["salary"] = salary
    return df


def test_live_mse_uses_only_rows_that_carry_the_salary():
    manifest = {"test_metrics": {"floor_mse": 4.0, "mse_over_floor": 1.01}}
    live = live_metrics(rows([10.0, np.nan, 14.0]), np.array([12.0, 99.0, 10.0]), manifest, default_floor=1.0)
    assert live == {"rows_with_label": 2, "mse": 10.0, "floor_mse": 4.0, "mse_over_floor": 2.5,
                    "test_mse_over_floor": 1.01}
    assert live_metrics(rows(), np.zeros(3), manifest, 1.0) is None
    assert live_metrics(rows([np.nan] * 3), np.zeros(3), manifest, 1.0) is None
    assert live_metrics(rows([1.0, 1.0, 1.0]), np.zeros(3), {}, default_floor=2.0)["mse_over_floor"] == 0.5


def test_the_published_table_has_the_inputs_features_prediction_and_model():
    X = np.array([[20, 1, 1.0], [30, 0, 2.0], [40, 1, 3.0]], float)
    table = prediction_table(rows([1.0, 2.0, 3.0]), X, ("age", "is_active", "tenure_years"), np.array([7.0, 8, 9]),
                             "v1")
    assert table.column_names == ["id", "age", "is_active", "signup_date", "tenure_years", "salary", "prediction",
                                  "model_version"]
    assert table["prediction"].to_pylist() == [7.0, 8.0, 9.0]
    assert table["tenure_years"].to_pylist() == pytest.approx([1.0, 2.0, 3.0])
    assert table["model_version"].to_pylist() == ["v1"] * 3


def test_a_labelled_drops_rows_become_a_raw_chunk_of_the_training_data():
    from salary.drops.predict import labelled_table
    from salary.schema import RAW_COLUMNS

    table = labelled_table(rows([10.0, np.nan, 14.0]))
    assert table.column_names == list(RAW_COLUMNS)
    assert table["id"].to_pylist() == [1, 3] and table["salary"].to_pylist() == [10.0, 14.0]
    assert table["name"].null_count == 2 and str(table.schema.field("name").type) == "string"
    assert str(table.schema.field("signup_date").type) == "date32[day]"
    assert table["is_active"].to_pylist() == [True, True]
    assert table["signup_date"].to_pylist() == [dt.date(2025, 1, 1)] * 2
    assert labelled_table(rows()) is None and labelled_table(rows([np.nan] * 3)) is None
    as_datetimes = rows([10.0, np.nan, 14.0]).assign(signup_date=pd.Timestamp("2025-01-01"))
    assert labelled_table(as_datetimes).equals(table)


def test_a_drop_predicted_before_is_resumed_by_its_run_and_refused_to_others(lake, settings):
    """A retry of the run that published a drop's predictions reports them without predicting
    again; a later drop under the same name is rejected whole, saying why (no model is needed)."""
    from salary.drops import REASON_FILE
    from salary.drops.predict import Scorer, start_drop
    from salary.drops.publish import staging_dir
    from salary.lake import MANIFEST, SUCCESS, join
    from salary.runtime.job import JobContext, Stages
    from tests.helpers import STORE, lake_io

    published = {"drop": "d.parquet", "run": "run_a", "rows_predicted": 3}
    STORE.write_json(join(lake.predictions("d.parquet"), MANIFEST), published)
    STORE.write_atomic(join(lake.predictions("d.parquet"), SUCCESS), b"")
    manifest = {"version": "v1"}

    def predict(owner):
        return start_drop(JobContext(lake_io(lake), settings, owner, Stages()), "d.parquet",
                          Scorer(None, None, 1, 10, 10), manifest)

    assert predict("run_a") == {**published, "status": "predicted"}
    refused = predict("run_b")
    assert refused["status"] == "rejected" and refused["rows_in"] is None
    assert "already predicted by run run_a" in refused["reason"]
    reason = STORE.read_json(join(staging_dir(lake, "run_b", "d.parquet"), "rejected", REASON_FILE))
    assert reason["reason"] == refused["reason"] and reason["run"] == "run_b"


def test_drops_are_pipelined_the_next_one_started_before_the_one_before_is_finished():
    """While one drop's rows are predicted the driver writes the drop before it; a drop with
    nothing to predict is answered at once; the results keep the claims' order."""
    from salary.drops.predict import Scoring, predict_pipelined

    events: list[str] = []

    def start(drop):
        events.append(f"start {drop}")
        if drop == "bad":
            return {"drop": drop, "status": "rejected"}
        return Scoring({"drop": drop}, "", 0, pd.DataFrame(), pd.DataFrame(), np.empty((0, 0)), (), [])

    def finish(scoring):
        events.append(f"finish {scoring.result['drop']}")
        return {**scoring.result, "status": "predicted"}

    results = predict_pipelined(start, finish, ["a", "bad", "b", "c"])
    assert [(r["drop"], r["status"]) for r in results] == [
        ("a", "predicted"), ("bad", "rejected"), ("b", "predicted"), ("c", "predicted")]
    assert events == ["start a", "start bad", "start b", "finish a", "start c", "finish b", "finish c"]
    assert predict_pipelined(start, finish, []) == []
    assert predict_pipelined(start, finish, ["bad"]) == [{"drop": "bad", "status": "rejected"}]


def doubling_model():
    """A model predicting twice the first feature (defined here so Ray ships it by value)."""
    class Double:
        def predict(self, X):
            return X[:, 0] * 2

    return Double()


def test_a_small_drop_is_predicted_in_the_driver_without_waiting_for_workers():
    """No Ray call at all: the workers still warming up are not waited for."""
    from salary.drops.predict import Scorer
    from salary.runtime.job import Stages

    stages = Stages()
    scorer = Scorer(doubling_model(), None, 2, batch_rows=3, driver_rows=5, warming=["not a ref: never waited for"])
    X = np.arange(5, dtype=float).reshape(-1, 1)
    refs = scorer.submit(X, stages)
    assert refs is None and scorer.predict(X, refs).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert scorer.predict(X[:0], scorer.submit(X[:0], stages)).size == 0
    assert "workers_ready" not in stages.seconds and scorer.warming and scorer.warm_workers == 0
    assert not scorer.needs_workers(5) and scorer.needs_workers(6)


def test_a_tabulated_champion_predicts_every_drop_in_the_driver(settings):
    """Its table predicts a million rows in a fraction of a second: no worker is started or
    waited for, whatever the drop's size, and the predictions are the pipeline's."""
    from salary.drops.predict import make_scorer
    from salary.model.features import build_pipeline
    from salary.model.table import tabulate
    from salary.runtime.job import Stages

    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(18, 81, 3_000), rng.random(3_000) < 0.6, rng.random(3_000) * 10]
    pipeline = build_pipeline("hist_gradient_boosting", {"learning_rate": 0.3, "max_leaf_nodes": 15,
                                                         "min_samples_leaf": 20, "max_iter": 20,
                                                         "l2_regularization": 0.0}).fit(X, X[:, 0] * 100)
    stages = Stages()
    scorer = make_scorer(tabulate(pipeline), 2, settings.predict)  # no Ray here: a ray.put would start one
    assert scorer.model_ref is None and scorer.warming == [] and not scorer.needs_workers(10**9)
    big = np.repeat(X, 10, axis=0)
    refs = scorer.submit(big, stages)
    assert refs is None and np.array_equal(scorer.predict(big, refs), pipeline.predict(big))
    assert "workers_ready" not in stages.seconds


def test_batches_cover_every_row_in_order_at_least_one_per_cpu(ray_gcs_address, settings):
    import ray

    from salary.drops.predict import Scorer, gather, make_scorer, submit_batches, warm_up
    from salary.runtime.job import Stages

    X = np.arange(10, dtype=float).reshape(-1, 1)
    ray.init(address=ray_gcs_address)
    try:
        # A drop over driver_rows waits once for the warming workers, then goes to them in batches.
        stages = Stages()
        scorer = Scorer(doubling_model(), ray.put(doubling_model()), 2, batch_rows=3, driver_rows=5,
                        warming=[warm_up.remote()])
        refs = scorer.submit(X, stages)
        assert refs is not None and len(refs) == 4 and scorer.predict(X, refs).tolist() == [2.0 * i for i in range(10)]
        assert "workers_ready" in stages.seconds and scorer.warm_workers == 1 and scorer.warming == []
        # A model without a table: Ray batches past driver_rows, on workers warming up from the start.
        scorer = make_scorer(doubling_model(), 2, settings.predict)
        assert len(scorer.warming) == 2 and scorer.model_ref is not None
        assert scorer.needs_workers(settings.predict.driver_rows + 1)
        assert scorer.predict(X, scorer.submit(X, stages)).tolist() == [2.0 * i for i in range(10)]
        refs = submit_batches(doubling_model(), X, batch_rows=3, cpus=2)
        assert len(refs) == 4
        assert gather(refs).tolist() == [2.0 * i for i in range(10)]
        assert len(submit_batches(doubling_model(), X, batch_rows=100, cpus=2)) == 2
        assert submit_batches(doubling_model(), X[:0], 3, 2) == [] and gather([]).size == 0
    finally:
        ray.shutdown()


def test_drift_is_judged_only_on_a_drop_big_enough_to_show_it(lake, settings):
    """Two drops of an older population, through the job's own read, predict and monitor: the
    one of 100 rows has its PSI recorded but no verdict (chance alone reaches the threshold at
    that size), the one of the configured minimum is drifted on age."""
    from devtools.synthetic import World, people, write_drop
    from salary.drops.claims import claim_drops
    from salary.drops.predict import Scorer, finish_drop, start_drop
    from salary.model.features import FEATURES, features
    from salary.model.monitoring import reference_bins
    from salary.runtime.job import JobContext, Stages
    from tests.helpers import lake_io

    as_of = settings.dataset.as_of
    population = features(people(50_000, 1, settings.dataset), as_of)
    reference = reference_bins(population, FEATURES, settings.predict.psi_bins)
    manifest = {"version": "v1", "features": list(FEATURES), "as_of": as_of.isoformat(), "reference": reference}
    sizes = {"small": 100, "big": settings.predict.psi_min_rows}
    for seed, (name, rows) in enumerate(sizes.items(), start=2):
        write_drop(lake, name, rows, 1, False, seed=seed, world=World(ages=(60, 80)))
    ctx = JobContext(lake_io(lake), settings, "run_a", Stages())
    assert {c.drop for c in claim_drops(ctx.lake, "run_a", list(sizes), 60)} == set(sizes)
    scorer = Scorer(doubling_model(), None, 1, batch_rows=10**6, driver_rows=10**6)
    unjudged: dict = {}
    small, big = (finish_drop(ctx, start_drop(ctx, name, scorer, manifest), scorer, manifest, unjudged)
                  for name in sizes)
    assert small["rows_predicted"] == 100 and small["psi"]["age"] > settings.predict.psi_drift
    assert small["drifted"] == [] and big["drifted"] == ["age"]
    assert small["judged"] is False and big["judged"] is True  # publish keeps the small one for later pools
    assert list(unjudged) == ["small"] and unjudged["small"]["rows"] == 100  # for the run's pool


def test_a_labelled_drop_stages_its_training_rows_and_its_predictions_each_folder_complete(lake, settings):
    """Through the job's own start_drop/finish_drop: labelled/ holds the labelled rows as a raw
    chunk with its manifest, predictions/ the predicted rows in Parquet and CSV with theirs, each
    folder with _SUCCESS; the counts reconcile."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from devtools.synthetic import write_drop
    from salary.drops.claims import claim_drops
    from salary.drops.predict import Scorer, finish_drop, start_drop
    from salary.drops.publish import staging_dir
    from salary.lake import MANIFEST, SUCCESS, join
    from salary.model.features import FEATURES
    from salary.runtime.job import JobContext, Stages
    from salary.schema import RAW_COLUMNS
    from tests.helpers import STORE, lake_io

    write_drop(lake, "labelled-drop", 500, 2, True, seed=3)
    ctx = JobContext(lake_io(lake), settings, "run_a", Stages())
    claim_drops(ctx.lake, "run_a", ["labelled-drop"], 60)
    manifest = {"version": "v1", "features": list(FEATURES), "as_of": settings.dataset.as_of.isoformat()}
    scorer = Scorer(doubling_model(), None, 1, batch_rows=10**6, driver_rows=10**6)
    result = finish_drop(ctx, start_drop(ctx, "labelled-drop", scorer, manifest), scorer, manifest)
    assert result["rows_in"] == result["rows_predicted"] == result["rows_labelled"] == 500

    staged = staging_dir(lake, "run_a", "labelled-drop")
    def read(uri):
        return io.BytesIO(STORE.read_bytes(uri))

    labelled = pq.read_table(read(join(staged, "labelled", "part-0.parquet")))
    assert labelled.column_names == list(RAW_COLUMNS) and labelled.num_rows == 500
    assert str(labelled.schema.field("signup_date").type) == "date32[day]"
    chunk = STORE.read_json(join(staged, "labelled", MANIFEST))
    assert chunk["rows"] == 500 and chunk["run"] == "run_a" and chunk["labelled_at"]
    folder = join(staged, "predictions")
    parquet = pq.read_table(read(join(folder, "predictions.parquet")))
    csv = pacsv.read_csv(read(join(folder, "predictions.csv")))
    assert parquet.num_rows == csv.num_rows == 500 and parquet.column_names == csv.column_names
    assert parquet["prediction"].to_pylist() == pytest.approx((2 * parquet["age"].to_numpy()).tolist())
    assert labelled["signup_date"].to_pylist() == parquet["signup_date"].to_pylist()
    assert STORE.read_json(join(folder, MANIFEST))["rows_predicted"] == 500
    assert "psi" in STORE.read_json(join(folder, "monitoring.json"))
    assert STORE.exists(join(staged, "labelled", SUCCESS)) and STORE.exists(join(folder, SUCCESS))
