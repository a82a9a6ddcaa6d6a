"""Bursts of drops through the real scheduler and triggerer, and a training run beside them.

A burst is ``count`` complete drops of ``rows`` rows, written elsewhere on the same filesystem and
then renamed into ``drops/incoming/`` one after the other (milliseconds apart), as a producer
flushing a backlog would. Measured: the seconds from the first rename until the last
``predictions/<drop>/`` appeared (publish renames it into place, _SUCCESS inside), against the champion's bare
``predict()`` over the same rows in one process; and the exactly-once outcome: one manifest per
drop with all its rows, each drop in ``processed/`` once, nothing left waiting, claimed or
rejected, every run the burst started ended in success.

``training_beside`` measures a ``salary_training`` run (triggered as a user would) alone, then
again with a burst started the same second: a burst must not starve the scheduled training
(its duration beside the burst against alone).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.measure import MemorySampler
from bench.prediction import bare_predict
from bench.stack import Stack, runs, timeline
from devtools.airflow_services import airflow, wait_for
from devtools.synthetic import write_drop
from salary.config import Settings
from salary.lake import Lake, LakeIO, join
from salary.lake.fsspec_store import FsspecStore
from salary.model.registry import champion

STORE = FsspecStore()
DAG = "salary_batch_predict"


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def stage(work: Path, prefix: str, count: int, rows: int, settings: Settings) -> tuple[Lake, list[str]]:
    """``count`` complete drops written outside the deployment's lake (same filesystem)."""
    elsewhere = Lake(f"file://{work}/producer-{prefix}", settings.lake)
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        write_drop(elsewhere, name, rows, 1, False, seed=1000 + i)
    return elsewhere, names


def run_ids(stack: Stack) -> set[str]:
    return {r["run_id"] for r in runs(stack, DAG)}


def burst(stack: Stack, elsewhere: Lake, names: list[str], rows: int, settings: Settings,
          on_start: Any = None) -> dict[str, Any]:
    """Rename the staged drops into incoming/, wait until each is published and every run the
    burst started has ended; check it was exactly once. ``on_start()`` runs just before."""
    lake = Lake(stack.lake_root, settings.lake)
    before = run_ids(stack)
    incoming = local(lake.incoming)
    incoming.mkdir(parents=True, exist_ok=True)  # as a producer's first drop would
    if on_start:
        on_start()
    start = time.time()
    for name in names:
        os.rename(local(elsewhere.incoming) / name, incoming / name)
    renamed = time.time() - start
    published = watch_publications(local(lake.predictions("x")).parent, names, start)
    wait_for(lambda: all(r["state"] in ("success", "failed") for r in runs(stack, DAG)
                         if r["run_id"] not in before), 1800, "every run the burst started to end", interval=2)
    ended = time.time() - start
    started = [r for r in runs(stack, DAG) if r["run_id"] not in before]
    # Exactly once: one manifest per drop with every row, by a run the burst started; each drop
    # moved to processed/ once; none waiting, claimed or rejected (a drop predicted twice would
    # have its second publication refused into rejected/ with the reason).
    manifests = {n: json.loads((local(lake.predictions(n)) / "_MANIFEST.json").read_text()) for n in names}
    wrong_rows = {n: m["rows_predicted"] for n, m in manifests.items() if m["rows_predicted"] != rows}
    foreign = {n: m["run"] for n, m in manifests.items() if m["run"] not in {r["run_id"] for r in started}}
    processed = sorted(n for n in os.listdir(local(lake.processed)) if n in set(names))
    left = {folder: sorted(p.name for p in local(uri).rglob(f"{names[0].rsplit('-', 1)[0]}-*"))
            for folder, uri in (("incoming", lake.incoming), ("rejected", lake.rejected_drops),
                                ("claimed", f"{lake.drops}/claimed")) if local(uri).exists()}
    left = {k: v for k, v in left.items() if v}
    states = sorted(r["state"] for r in started)
    exactly_once = not wrong_rows and not foreign and processed == sorted(names) and not left
    problems = {"wrong_rows": wrong_rows, "foreign_run": foreign, "left": left,
                "missing_from_processed": sorted(set(names) - set(processed))}
    return {"drops": len(names), "rows_per_drop": rows, "rows": len(names) * rows, "renames_seconds": renamed,
            "first_published": min(published.values()), "last_published": max(published.values()),
            "runs_ended": ended, "runs": len(started), "run_states": states,
            "runs_ok": bool(started) and set(states) == {"success"},
            "drops_per_run": sorted(len(m) for m in _drops_by_run(manifests).values()),
            "timeline": {r["run_id"]: timeline(stack, DAG, r["run_id"], start) for r in started},
            "exactly_once": exactly_once, "problems": problems if not exactly_once else {}}


def watch_publications(predictions: Path, names: list[str], start: float, timeout: float = 1800) -> dict[str, float]:
    """Seconds from ``start`` (epoch) until each drop's predictions/<drop>/ appeared. publish
    renames the staged folder into place (its _SUCCESS inside), so the folder's appearance is
    the publication; the files' own times are the staging's (a rename keeps them)."""
    seen: dict[str, float] = {}
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while len(seen) < len(wanted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(wanted) - len(seen)} of {len(wanted)} drops not published")
        now = time.time() - start
        try:
            listed = os.listdir(predictions)
        except FileNotFoundError:
            listed = []
        for name in wanted.intersection(listed).difference(seen):
            seen[name] = now
        time.sleep(0.1)
    return seen


def _drops_by_run(manifests: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, m in manifests.items():
        out.setdefault(m["run"], []).append(name)
    return out


def trigger_training(stack: Stack, rows: int, seed: int) -> str:
    """A salary_training run as a user triggers it (the CLI); returns its run id."""
    run_id = f"bench_training_{rows}_{seed}_{dt.datetime.now(dt.UTC):%H%M%S}"
    airflow(stack.airflow.env, "dags", "trigger", "salary_training", "--run-id", run_id,
            "-c", json.dumps({"rows": rows, "seed": seed}))
    return run_id


def training_seconds(stack: Stack, run_id: str, timeout: float = 1800) -> dict[str, Any]:
    """Wait for the run to end; its duration as the user sees it (queued by the trigger -> end),
    the part of it spent queued, its state, and the other runs of the DAG it overlapped."""
    def ended() -> dict[str, Any] | None:
        run = next((r for r in runs(stack, "salary_training") if r["run_id"] == run_id), None)
        return run if run and run["state"] in ("success", "failed") else None
    run = wait_for(ended, timeout, f"salary_training {run_id}", interval=2)
    assert run is not None
    start, end = (dt.datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
    queued = dt.datetime.fromisoformat(run["queued_at"]) if run.get("queued_at") else start
    # Another run of the DAG (max_active_runs = 1) in the way: a retrain a drift event started.
    between = [{k: r.get(k) for k in ("run_id", "run_type", "start_date", "end_date")}
               for r in runs(stack, "salary_training") if r["run_id"] != run_id and r.get("start_date")
               and dt.datetime.fromisoformat(r["start_date"]) < end
               and (not r.get("end_date") or dt.datetime.fromisoformat(r["end_date"]) > queued)]
    return {"run_id": run_id, "state": run["state"], "seconds": (end - queued).total_seconds(),
            "queued_seconds": (start - queued).total_seconds(), "queued_at": run.get("queued_at"),
            "start_date": run["start_date"], "runs_beside": between}


def bursts(stack: Stack, work: Path, settings: Settings, sampler: MemorySampler, big: tuple[int, int] = (50, 100_000),
           many: tuple[int, int] = (500, 100), training_rows: int = 300_000) -> dict[str, Any]:
    """Training alone (its champion scores the bursts), the big burst against bare predict(),
    then the burst of many small drops with a training run started beside it."""
    stack.airflow.wait_for_dag("salary_training")  # unpaused: a user's trigger now runs
    with sampler.phase(f"training {training_rows:,} (Airflow) alone"):
        alone = training_seconds(stack, trigger_training(stack, training_rows, 11))
    print(f"salary_training at {training_rows:,} rows alone: {alone['seconds']:.0f} s", flush=True)
    if alone["state"] != "success":
        raise RuntimeError(f"salary_training alone failed: {alone}")
    lake = Lake(stack.lake_root, settings.lake)
    wait_for(lambda: champion(LakeIO(lake, STORE)), 60, "a champion in the stack's lake")
    # Let the champion's own run (it finds no drop) end first: it is not the burst's.
    wait_for(lambda: all(r["state"] in ("success", "failed") for r in runs(stack, DAG)), 300,
             "the runs before the burst to end", interval=2)

    elsewhere, names = stage(work, "big", *big, settings)
    base = bare_predict(lake, [join(elsewhere.incoming, name) for name in names])
    with sampler.phase(f"burst {big[0]} x {big[1]:,}"):
        big_result = burst(stack, elsewhere, names, big[1], settings)
    big_result |= {"baseline": base, "ratio": big_result["last_published"] / base["predict"]}

    elsewhere, names = stage(work, "many", *many, settings)
    started: dict[str, str] = {}
    many_phase = f"burst {many[0]} x {many[1]:,} + training"
    with sampler.phase(many_phase):
        many_result = burst(stack, elsewhere, names, many[1], settings,
                            on_start=lambda: started.update(run=trigger_training(stack, training_rows, 12)))
        beside = training_seconds(stack, started["run"])
    big_result["stack_peak_bytes"] = sampler.peaks.get(f"burst {big[0]} x {big[1]:,}", 0)
    many_result["stack_peak_bytes"] = sampler.peaks.get(many_phase, 0)
    many_result["stack_peak_makeup"] = sampler.peak_makeup.get(many_phase, {})
    return {"big": big_result, "many": many_result,
            "training": {"rows": training_rows, "alone": alone, "beside_burst": beside,
                         "ratio": beside["seconds"] / alone["seconds"]}}
