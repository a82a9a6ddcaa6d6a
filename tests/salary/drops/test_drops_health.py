"""Which unhealthy drops become model-health events, and the record every predicted drop leaves."""

from __future__ import annotations

import datetime as dt

from salary.drops.health import cooldown_decisions, judge_drops
from salary.lake.fsspec_store import FsspecStore

T0 = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_one_event_per_cooldown():
    verdicts = [{"drop": "a"}, {"drop": "b"}]
    assert [d["event"] for d in cooldown_decisions(verdicts, None, T0, HOUR)] == [True, False]
    assert [d["event"] for d in cooldown_decisions(verdicts, T0 - 2 * HOUR, T0, HOUR)] == [True, False]
    inside = cooldown_decisions(verdicts[:1], T0 - HOUR / 2, T0, HOUR)
    assert inside[0]["event"] is False
    assert inside[0]["why"].startswith("cooldown: a model-health event at 2026-11-26T02:30")
    assert cooldown_decisions(verdicts[:1], T0 - HOUR, T0, HOUR)[0]["event"] is True  # the cooldown is over


def result(drop, drifted=(), status="predicted"):
    return {"drop": drop, "status": status, "psi": {"age": 3.0 if drifted else 0.01}, "drifted": list(drifted),
            "live": None, "model_version": "v1"}


def test_every_predicted_drop_gets_a_health_record(tmp_path, settings):
    from salary.lake import Lake, LakeIO

    store, lake = FsspecStore(), Lake(f"file://{tmp_path}", settings.lake)
    drops = [result("ok"), result("old", ["age"]), result("older", ["age"]), result("bad", status="rejected")]
    alerts = judge_drops(LakeIO(lake, store), "run1", drops, None, HOUR, 1.5, now=T0)
    assert [(a["drop"], a["event"]) for a in alerts] == [("old", True), ("older", False)]
    assert store.read_json(lake.health_record("ok")) == {"drop": "ok", "healthy": True, "event": False, "run": "run1",
                                                          "decided_at": T0.isoformat()}
    older = store.read_json(lake.health_record("older"))
    assert older["healthy"] is False and older["event"] is False and older["why"].startswith("cooldown")
    assert not store.exists(lake.health_record("bad"))


def test_a_drifted_pool_of_small_drops_is_one_verdict_recorded_on_each_of_its_drops(tmp_path, settings):
    """The pool gets one event decision (after the drops' own verdicts, in the same cooldown); each
    pooled drop's record says it is unhealthy and why; drops outside the pool are untouched."""
    from salary.lake import Lake, LakeIO

    store, lake = FsspecStore(), Lake(f"file://{tmp_path}", settings.lake)
    pooled = {"drops": ["s1", "s2", "gone"], "rows": 1200, "psi": {"age": 0.61, "tenure_years": 0.02},
              "drifted": ["age"], "judged": True}
    drops = [result("s1"), result("s2"), result("big"), result("gone", status="rejected")]
    alerts = judge_drops(LakeIO(lake, store), "run1", drops, None, HOUR, 1.5, now=T0, pooled=pooled)
    [pool] = alerts
    assert pool["event"] is True and pool["pooled_drops"] == ["s1", "s2"] and pool["drifted_features"] == ["age"]
    assert pool["reasons"] == ["PSI of age 0.610 above the threshold on the 1,200 rows of 3 drops too small to "
                               "judge alone, pooled"]
    for drop in ("s1", "s2"):
        record = store.read_json(lake.health_record(drop))
        assert record["healthy"] is False and record["pooled"] and record["reasons"] == pool["reasons"]
        assert record["event"] is True and record["drop"] == drop
    assert store.read_json(lake.health_record("big"))["healthy"] is True

    # Inside the cooldown of a drop's own event: recorded, no second event.
    alerts = judge_drops(LakeIO(lake, store), "run2", [result("old", ["age"]), result("s3")], None, HOUR, 1.5,
                         now=T0, pooled={**pooled, "drops": ["s3", "s4"]})
    assert [(a["drop"], a["event"]) for a in alerts] == [("old", True), ("a pool of 1 small drop", False)]
    assert store.read_json(lake.health_record("s3"))["why"].startswith("cooldown")
    # A pool that did not drift changes nothing.
    judge_drops(LakeIO(lake, store), "run3", [result("s5")], None, HOUR, 1.5, now=T0,
                pooled={**pooled, "drops": ["s5", "s6"], "drifted": []})
    assert store.read_json(lake.health_record("s5"))["healthy"] is True


def test_a_trickle_of_small_drops_one_per_run_is_judged_once_their_rows_suffice(tmp_path, settings):
    """One small drop of a shifted population per run: each waits in _pool/ until the runs'
    drops together reach psi_min_rows; then one pooled verdict marks all of them, including the
    earlier runs', and the pool empties. Another model's or too old a waiting drop is not pooled."""
    from devtools.synthetic import World, people
    from salary.drops.health import carry_pool, pool_small_drops
    from salary.lake import Lake, LakeIO, join
    from salary.model.features import FEATURES, features
    from salary.model.monitoring import drift_report, reference_bins

    p = settings.predict
    store, lake = FsspecStore(), Lake(f"file://{tmp_path}", settings.lake)
    io, day = LakeIO(lake, store), dt.timedelta(hours=p.psi_pool_max_age_hours)
    reference = reference_bins(features(people(50_000, 1, settings.dataset), settings.dataset.as_of), FEATURES,
                               p.psi_bins)
    rows = p.psi_min_rows * 2 // 5  # three runs' drops reach psi_min_rows, two do not

    def run(n: int, drop: str) -> dict | None:
        X = features(people(rows, n + 10, settings.dataset, world=World(ages=(60, 80))), settings.dataset.as_of)
        report = drift_report(reference, X, FEATURES, p.psi_drift, p.psi_min_rows)
        assert report["judged"] is False and report["drifted"] == []
        store.write_json(join(lake.predictions(drop), "monitoring.json"), report)  # as published
        now = T0 + n * HOUR
        pooled = pool_small_drops(io, {drop: report}, "v1", now, p)
        drops = [{**result(drop), "judged": False}]
        judge_drops(io, f"run{n}", drops, None, HOUR, 1.5, now=now, pooled=pooled)
        carry_pool(io, f"run{n}", drops, pooled, "v1", now, day)
        return pooled

    # Waiting from before, never pooled: another model's drop, and one older than the limit.
    for name, version, at in (("other-model", "v0", T0), ("too-old", "v1", T0 - day)):
        store.write_json(join(lake.drift_pool, f"{name}.json"), {"drop": name, "model_version": version, "at":
                                                                 at.isoformat(), "report": {"rows": 900}})
    assert run(1, "a") is None  # one drop is no pool; it waits
    assert store.names(lake.drift_pool) == ["a.json"]  # the other model's and the old one are gone
    second = run(2, "b")
    assert second["judged"] is False and second["drops"] == ["a", "b"] and second["carried"] == ["a"]
    assert store.read_json(lake.health_record("a"))["healthy"] is True
    third = run(3, "c")
    assert third["judged"] is True and third["rows"] == 3 * rows and "age" in third["drifted"]
    assert third["drops"] == ["a", "b", "c"] and third["carried"] == ["a", "b"]
    for drop in "abc":
        record = store.read_json(lake.health_record(drop))
        assert record["healthy"] is False and record["pooled"] and record["event"] is True, record
        assert any("3 drops too small to judge alone" in r for r in record["reasons"]), record
    assert store.read_json(lake.health_record("a"))["pooled_by"] == "run3"
    assert store.names(lake.drift_pool) == []  # judged: nobody waits


def test_a_run_of_the_replaced_champion_leaves_the_new_champions_waiting_drops(tmp_path, settings):
    """v2 was promoted while a run was still predicting with v1: when that run publishes, the
    small drops waiting for v2's pools stay, and its own v1 drops, which no later run will pool,
    do not wait. Once v2 is the champion of its own run, v1's leftovers go."""
    from salary.drops.health import carry_pool
    from salary.lake import Lake, LakeIO, join
    from salary.model.registry import CHAMPION

    store, lake = FsspecStore(), Lake(f"file://{tmp_path}", settings.lake)
    io, day = LakeIO(lake, store), dt.timedelta(hours=settings.predict.psi_pool_max_age_hours)
    store.write_json(join(lake.models, CHAMPION), {"version": "v2", "test_mse": 1.0})
    store.write_json(join(lake.drift_pool, "new.json"),
                     {"drop": "new", "model_version": "v2", "at": T0.isoformat(), "report": {"rows": 100}})
    store.write_json(join(lake.predictions("late"), "monitoring.json"), {"rows": 100, "judged": False})
    late = [{**result("late"), "judged": False}]
    assert carry_pool(io, "run-v1", late, None, "v1", T0, day) == {"waiting": ["new"], "removed": ["late"]}
    assert store.names(lake.drift_pool) == ["new.json"]
    # Without a champion pointer (none promoted yet) the run's own model is the one that counts.
    store.delete(join(lake.models, CHAMPION))
    assert carry_pool(io, "run-v1", late, None, "v1", T0, day) == {"waiting": ["late"], "removed": ["new"]}


def test_a_retried_run_pools_the_small_drops_it_published_on_its_first_try(tmp_path, settings):
    """The first try published drop a (too small to judge) and left it waiting in _pool/; the
    retried run skips a as already published and scores b: a still joins b's pool, as carried.
    A drop scored now that also waits counts once, by its report of now."""
    from devtools.synthetic import people
    from salary.drops.health import pool_small_drops
    from salary.lake import Lake, LakeIO, join
    from salary.model.features import FEATURES, features
    from salary.model.monitoring import drift_report, reference_bins

    p = settings.predict
    store, lake = FsspecStore(), Lake(f"file://{tmp_path}", settings.lake)
    io = LakeIO(lake, store)
    reference = reference_bins(features(people(20_000, 1, settings.dataset), settings.dataset.as_of), FEATURES,
                               p.psi_bins)

    def report(seed: int) -> dict:
        X = features(people(p.psi_min_rows // 4, seed, settings.dataset), settings.dataset.as_of)
        return drift_report(reference, X, FEATURES, p.psi_drift, p.psi_min_rows)

    first = report(2)
    store.write_json(join(lake.drift_pool, "a.json"),
                     {"drop": "a", "model_version": "v1", "run": "run1", "at": T0.isoformat(), "report": first})
    pooled = pool_small_drops(io, {"b": report(3)}, "v1", T0, p)
    assert pooled["drops"] == ["a", "b"] and pooled["carried"] == ["a"]
    assert pooled["rows"] == 2 * (p.psi_min_rows // 4)
    again = pool_small_drops(io, {"a": first, "b": report(3)}, "v1", T0, p)
    assert again["drops"] == ["a", "b"] and again["carried"] == [] and again["rows"] == pooled["rows"]
