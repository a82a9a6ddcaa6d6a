"""The benchmark's table: each stage's ratio against its baseline and the target it is held to."""

from __future__ import annotations

import pytest

from bench.report import markdown, rows_of, stage_costs, table

GB = 10**9


def size(gen: float, etl: float, tune: float, mse: float = 1.002) -> dict:
    jobs = {"etl_benchmark": etl / 2, "top_earners": etl / 4, "age_distribution": etl / 4}
    return {
        "generation": {"ours": {"work": gen}, "baseline": {"work": 10.0}},
        "etl": {"ours": {j: {"work": s} for j, s in jobs.items()},
                "baseline": {"work": 10.0, "jobs": {j: 10.0 / 3 for j in jobs}}},
        "tuning": {"ours": {"work": tune, "test_mse_over_floor": mse},
                   "baseline": {"work": 100.0, "test_mse_over_floor": 1.001}, "speedup": 100.0 / tune},
    }


def result(peak_bytes: float = 9 * GB, **sizes: dict) -> dict:
    return {
        "cpus": 2, "sizes": sizes,
        "startup": {"ours": 2.9, "stock": 10.0, "ratio": 0.29},
        "prediction": {"rows": 1_000_000, "ours": {"work": 3.0}, "baseline": {"predict": 1.5}, "ratio": 2.0},
        "latency": {"rows": 2000, "warm_median": 11.5, "bare_job_seconds": 6.0, "ratio": 1.9},
        "memory": {"stack_peak_bytes": peak_bytes, "stack_peak_phase": "tuning 30,000,000"},
    }


def burst(drops: int, rows: int, seconds: float, exactly_once: bool = True, states=("success",),
          peak: float = 5 * GB) -> dict:
    return {"drops": drops, "rows_per_drop": rows, "rows": drops * rows, "last_published": seconds,
            "exactly_once": exactly_once, "runs": len(states), "run_states": list(states),
            "runs_ok": set(states) == {"success"}, "stack_peak_bytes": peak}


def bursts(big_seconds: float = 30.0, many: dict | None = None, beside: float = 80.0) -> dict:
    return {"big": {**burst(50, 100_000, big_seconds), "baseline": {"predict": 20.0}, "ratio": big_seconds / 20.0},
            "many": many or burst(500, 100, 25.0, states=("success", "success")),
            "training": {"rows": 300_000, "alone": {"seconds": 60.0}, "ratio": beside / 60.0,
                         "beside_burst": {"seconds": beside, "state": "success"}}}


def met(rows, stage: str, n: int | None = None):
    (row,) = [r for r in rows if r.stage.strip().startswith(stage) and (n is None or r.rows == n)]
    return row.met


def test_each_target_is_judged_at_the_size_it_names():
    rows = rows_of(result(**{"3000000": size(gen=30, etl=39, tune=30), "10000000": size(gen=25, etl=99, tune=50),
                             "30000000": size(gen=19, etl=21, tune=19)}))
    assert met(rows, "start-up") is True
    assert met(rows, "generation", 30_000_000) is True and met(rows, "generation", 3_000_000) is None
    assert met(rows, "ETL, three jobs", 3_000_000) is True  # 3.9 <= 4
    assert met(rows, "ETL, three jobs", 30_000_000) is False  # 2.1 > 2
    assert met(rows, "ETL, three jobs", 10_000_000) is None  # no target in between
    assert met(rows, "tuning", 30_000_000) is True  # 100 / 19 = 5.3
    assert met(rows, "prediction") is False and met(rows, "drop arrival") is True
    assert met(rows, "peak summed RSS") is False


@pytest.mark.parametrize(("startup", "latency", "ok"), [(0.29, 11.9, True), (0.31, 11.9, False), (0.29, 12.1, False)])
def test_the_raised_targets_of_issue_27(startup, latency, ok):
    res = result(**{"30000000": size(gen=19, etl=21, tune=19)})
    res["startup"]["ratio"] = startup
    res["latency"]["warm_median"] = latency
    rows = rows_of(res)
    assert (met(rows, "start-up") and met(rows, "drop arrival")) is ok


def test_the_models_table_is_named_beside_the_bare_predict_it_is_measured_against():
    res = result(**{"30000000": size(gen=19, etl=21, tune=19)})
    res["prediction"]["baseline"] |= {"table_predict": 0.21, "table_same": True}
    (row,) = [r for r in rows_of(res) if r.stage.startswith("prediction")]
    assert row.note == "bare predict() (from its table, as the job predicts: 0.21 s)"
    res["prediction"]["baseline"]["table_same"] = False
    (row,) = [r for r in rows_of(res) if r.stage.startswith("prediction")]
    assert "NOT the same" in row.note
    res["bursts"] = bursts()
    (row,) = [r for r in rows_of(res) if r.stage.startswith("burst: 50 drops")]
    assert row.note.startswith("bare predict() of all rows; exactly once")  # no table measured: nothing said


@pytest.mark.parametrize(("b", "big", "many", "training"), [
    (bursts(), True, True, True),
    (bursts(big_seconds=41.0), False, True, True),  # 2.05 x bare predict()
    (bursts(many=burst(500, 100, 25.0, exactly_once=False)), True, False, True),  # a drop lost or doubled
    (bursts(many=burst(500, 100, 25.0, states=("success", "failed"))), True, False, True),  # a run failed
    (bursts(many=burst(500, 100, 25.0, peak=8.2 * GB)), True, False, True),  # over the memory budget
    (bursts(beside=95.0), True, True, False),  # 1.58 x alone: starved
])
def test_bursts_are_held_to_their_ratio_exactly_once_the_memory_budget_and_not_starving_training(
        b, big, many, training):
    res = result(**{"30000000": size(gen=19, etl=21, tune=19)})
    rows = rows_of({**res, "bursts": b})
    assert (met(rows, "burst: 50 drops"), met(rows, "burst: 500 drops"), met(rows, "salary_training beside")) == \
        (big, many, training)


@pytest.mark.parametrize(("tune", "mse", "expected"), [(21, 1.002, False), (19, 1.006, False), (19, 1.005, True)])
def test_tuning_must_be_both_fast_enough_and_accurate_enough(tune, mse, expected):
    rows = rows_of(result(**{"30000000": size(gen=10, etl=10, tune=tune, mse=mse)}))
    assert met(rows, "tuning", 30_000_000) is expected


def test_the_table_and_the_charts_data_carry_every_stage():
    res = result(**{"3000000": size(10, 10, 10), "30000000": size(20, 20, 20)})
    rows = rows_of(res)
    text, md = table(rows), markdown(rows)
    assert "NO" in text and "**no**" in md and len(md.splitlines()) == len(rows) + 2
    costs = stage_costs(res)
    assert costs["tuning"] == {3_000_000: (10, 100.0), 30_000_000: (20, 100.0)}
    assert set(costs) == {"generation", "ETL (3 jobs)", "tuning"}


@pytest.mark.parametrize(("peak_bytes", "ok"), [(7.96e9, True), (8.1e9, False)])
def test_the_memory_target_is_8_decimal_gigabytes(peak_bytes, ok):
    """8.1e9 bytes are 7.54 GiB: within 8 GiB, but over the 8 GB the issue names."""
    rows = rows_of(result(peak_bytes, **{"30000000": size(gen=19, etl=21, tune=19)}))
    assert met(rows, "peak summed RSS") is ok
    (row,) = [r for r in rows if r.stage.startswith("peak summed RSS")]
    assert row.ours == pytest.approx(peak_bytes / 1e9)


def scale_size(gen: float, etl: float, tune: float, peak: float = 6 * GB) -> dict:
    return {"stages": {"generation": {"work": gen, "peak_bytes": peak}, "ETL (3 jobs)": {"work": etl, "peak_bytes": 1},
                       "tuning": {"work": tune, "peak_bytes": 1}}, "lake_bytes": 9 * GB}


@pytest.mark.parametrize(("gen", "etl", "peak", "ok"), [
    (360, 900, 6 * GB, (True, True, True)),  # 30 s -> 360 s: 1.2 x per row; ETL 1.125 x
    (390, 900, 6 * GB, (False, True, True)),  # 1.3 x per row
    (360, 1000, 8.5 * GB, (True, True, False)),  # ETL 1.25 x per row is the limit itself; over 8 GB
    (360, 1001, 6 * GB, (True, False, True)),
])
def test_ten_times_the_rows_holds_each_stage_per_row_and_the_memory_at_every_size(gen, etl, peak, ok):
    res = {"cpus": 2, "sizes": {}, "scale": {"30000000": scale_size(30, 80, 60),
                                             "300000000": scale_size(gen, etl, 100, peak)}}
    rows = rows_of(res)
    assert (met(rows, "generation per row"), met(rows, "ETL (3 jobs) per row"),
            met(rows, "peak summed RSS", 300_000_000)) == ok
    assert met(rows, "tuning per row") is True and met(rows, "peak summed RSS", 30_000_000) is True
    (etl_row,) = [r for r in rows if r.stage.startswith("ETL (3 jobs) per row")]
    assert etl_row.baseline == pytest.approx(800) and etl_row.ratio == pytest.approx(etl / 800)
