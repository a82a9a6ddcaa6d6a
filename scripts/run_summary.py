"""Print what the latest run of a DAG did: each task's state and time, and where its outputs landed.

Task states and durations come from Airflow's metadata DB; outputs from the summary JSON each
job writes to <lake>/reports/<task>/<run>/.
"""

from __future__ import annotations

import argparse
import os
import sys

from salary.config import load_settings
from salary.lake import Lake, join, path_segment
from salary.lake.fsspec_store import FsspecStore

STORE = FsspecStore()

REPORT_FILES = ("summary.json", "metrics.json")
# Tasks whose job writes its report under another name.
JOB_OF_TASK = {"predict": "predict_drops"}


def task_outputs(lake: Lake, task_id: str, run_id: str) -> dict | None:
    if task_id == "promote_model":
        decision = STORE.read_json(join(lake.models, "decisions", f"{path_segment(run_id)}.json"))
        return decision and {**decision, "output": join(lake.models, "champion")}
    for name in REPORT_FILES:
        doc = STORE.read_json(join(lake.report(JOB_OF_TASK.get(task_id, task_id), run_id), name))
        if doc is not None:
            return doc
    return None


def describe(summary: dict | None) -> str:
    if summary is None:
        return "-"
    parts = []
    if summary.get("skipped"):
        parts.append("skipped: identical dataset exists")
    for key in ("rows_in", "rows_out", "rows_rejected", "duplicates_dropped"):
        if key in summary:
            parts.append(f"{key}={summary[key]:,}")
    if "test" in summary:
        t = summary["test"]
        parts.append(f"preset {summary['preset']}, {summary['trials']} trials; test MSE {t['mse']:,.0f} = "
                     f"{t['mse_over_floor']:.4f} x floor (mean predictor {t['mean_baseline_over_floor']:.2f} x), "
                     f"R2 {t['r2']:.4f}")
    for drop in summary.get("drops", []):
        if drop["status"] == "rejected" and drop.get("rows_in") is None:
            parts.append(f"\n{'':<44}{drop['drop']}: REJECTED ({drop['reason']})")
        else:
            live = drop.get("live") or {}
            parts.append(f"\n{'':<44}{drop['drop']}: {drop['rows_in']:,} rows in, {drop['rows_predicted']:,} "
                         f"predicted, {drop['rows_rejected']:,} rejected {drop.get('rejected_by_reason') or ''}; "
                         f"PSI max {max((drop.get('psi') or {0: 0}).values()):.3f}"
                         + (f"; live MSE {live['mse_over_floor']:.3f} x floor" if live else "")
                         + f"\n{'':<44}pictures: predictions/{drop['drop']}/_pictures/index.html")
    if summary.get("pictures"):
        parts.append(f"\n{'':<44}pictures: {summary['pictures']}/index.html")
    if "promoted" in summary:
        parts.append(("PROMOTED to champion: " if summary["promoted"] else "kept out: ") + summary["reason"])
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    args = parser.parse_args(argv)

    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    lake = Lake(os.environ["AIRFLOW_VAR_LAKE_ROOT"], load_settings().lake)
    with create_session() as session:
        run = session.scalars(
            select(DagRun).where(DagRun.dag_id == args.dag_id).order_by(DagRun.id.desc()).limit(1)
        ).first()
        if run is None:
            print(f"no run of {args.dag_id} yet", file=sys.stderr)
            return 1
        tis = sorted(run.get_task_instances(session=session), key=lambda ti: ti.start_date or run.start_date)
        rows = [(ti.task_id, str(ti.state), ti.duration or 0.0) for ti in tis]
        run_id, run_state = run.run_id, str(run.state)
        wall = (run.end_date - run.start_date).total_seconds() if run.end_date and run.start_date else 0.0

    print(f"\nrun {run_id}: {run_state}, {wall:.1f} s wall")
    print(f"{'task':<18} {'state':<16} {'seconds':>8}  output")
    outputs = []
    for task_id, state, seconds in rows:
        summary = task_outputs(lake, task_id, run_id)
        print(f"{task_id:<18} {state:<16} {seconds:>8.1f}  {summary.get('output', '-') if summary else '-'}")
        if summary:
            detail = describe(summary)
            if detail:
                print(f"{'':<44}{detail.lstrip()}")
            outputs.append(summary)
    task_total = sum(s for _, _, s in rows)
    if wall:
        print(f"sum of task times {task_total:.1f} s; orchestration overhead {wall - task_total:.1f} s "
              "(tasks run in parallel branches may overlap)")
    for summary in outputs:
        if summary.get("job") == "etl_benchmark":
            print(f"ETL metrics: {join(lake.report('etl_benchmark', run_id), 'metrics.json')}")
            print(f"rejected rows by reason: {summary.get('rejected_by_reason')} -> {summary.get('rejected_output')}")
    if args.dag_id == "salary_batch_predict":
        print(f"predictions: {join(lake.root, lake.layout.predictions)}/<drop>/   drops: {lake.drops}/"
              "{processed,rejected}/")
    print(f"reports: {join(lake.root, lake.layout.reports)}/<task>/{path_segment(run_id)}/")
    return 0 if run_state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
