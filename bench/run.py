"""Every stage of the pipeline against its baseline, measured in one run, at several sizes.

    python -m bench.run [--rows 3000000 10000000 30000000] [--predict-rows 1000000] [--stages ...]
    make bench                                   # the same, with set-up

Starts its own embedded stack (Ray head, Airflow: bench/stack.py) and measures, in this order:
  start-up    a trivial Spark job: stock `spark-submit` vs ours (UI off, class-data sharing,
              compiled pyspark, no Spark ML: devtools/build/spark_home.py)
  per size    generation vs numpy + pyarrow; the three ETL jobs vs DuckDB (results must match);
              tuning to the MSE target, tune_model (Ray Jobs API) vs GridSearchCV (same candidates)
  prediction  a 1M-row drop: the prediction job vs the champion's bare predict()
  latency     a drop's arrival -> published through the real scheduler and triggerer, vs the
              same drop through the bare Ray job
  bursts      salary_training (300k rows) through Airflow alone; 50 drops x 100,000 rows moved into
              incoming/ at once vs a bare predict() of all 5M rows; 500 drops x 100 rows with a
              salary_training run started beside them: exactly once, no run left behind, and the
              training run's time against alone (bench/bursts.py)
  memory      the peak summed RSS of every process of the stack, throughout (baselines excluded)
Writes bench/results/bench.json, bench.md (the table) and two charts; prints the table. With
--stages, only those (prediction and latency need sizes), to bench-<stages>.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.bursts import bursts
from bench.measure import MemorySampler
from bench.prediction import latency, make_champion, prediction
from bench.report import GB, charts, markdown, rows_of, table, table_note
from bench.scale import scale
from bench.spark_stages import etl, generation, startup
from bench.stack import embedded_stack
from bench.tuning import tuning
from salary.config import load_settings
from salary.lake import Lake

REPO = Path(__file__).resolve().parents[1]
STAGES = ("startup", "sizes", "prediction", "latency", "bursts")
SCALE = "scale"  # its own invocation (about 20 minutes at 300M rows): not among the default stages
RESULTS = REPO / "bench" / "results"


def print_makeup(sampler: MemorySampler) -> None:
    """Each phase's peak: its largest kinds of process, with their count and summed RSS."""
    for name, kinds in sampler.peak_makeup.items():
        top = ", ".join(f"{kind} x{k['count']} {k['rss'] / GB:.2f}" for kind, k in list(kinds.items())[:6])
        print(f"peak of {name} ({sampler.peaks[name] / GB:.2f} GB): {top}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[3_000_000, 10_000_000, 30_000_000])
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--scale-rows", type=int, nargs="+", default=[30_000_000, 300_000_000],
                        help="the sizes of --stages scale: each stage's work per row against the smallest's")
    parser.add_argument("--stages", nargs="+", choices=(*STAGES, SCALE), default=list(STAGES),
                        help="what to measure (prediction and latency need sizes: they use its model)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".local" / "bench")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    stages = set(args.stages)
    if stages & {"prediction", "latency"} and "sizes" not in stages:
        parser.error("prediction and latency score with the model the sizes stage tunes: add sizes")
    logging.getLogger("ray").setLevel(logging.WARNING)  # the Jobs API client's packaging chatter
    settings = load_settings()
    work: Path = args.work_dir.resolve()
    work.parent.mkdir(parents=True, exist_ok=True)
    lock = open(work.parent / f".{work.name}.lock", "w")  # noqa: SIM115 - held until the process ends
    try:  # a second benchmark on the same work dir would delete this one's services under it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        parser.error(f"another benchmark is running in {work}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    args.results.mkdir(parents=True, exist_ok=True)
    sizes = sorted(args.rows)
    result: dict[str, Any] = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "cpus": os.cpu_count(), "sizes": {}}
    with MemorySampler() as sampler, embedded_stack(work, f"file://{work}/airflow-lake") as stack:
        if "startup" in stages:
            with sampler.phase("start-up"):
                result["startup"] = s = startup(settings, work, sampler)
            print(f"start-up: stock spark-submit {s['stock']:.1f} s, ours {s['ours']:.1f} s ({s['ratio']:.2f} x); " +
                  "; ".join(f"{who}: " + ", ".join(f"{k} {v:.1f} s" for k, v in p.items() if k != "wall")
                            for who, p in s["profile"].items()), flush=True)
        for rows in sizes if "sizes" in stages else []:
            tmp = work / f"rows-{rows}"
            tmp.mkdir()
            lake = Lake(f"file://{tmp}/lake", settings.lake)
            with sampler.phase(f"generation {rows:,}"):
                gen = generation(settings, lake, rows, args.seed, tmp, sampler)
            print(f"{rows:,} generation: ours {gen['ours']['work']:.1f} s, numpy {gen['baseline']['work']:.1f} s",
                  flush=True)
            with sampler.phase(f"ETL {rows:,}"):
                etl_result = etl(settings, lake, rows, tmp, sampler)
            print(f"{rows:,} ETL: ours {sum(j['work'] for j in etl_result['ours'].values()):.1f} s, "
                  f"DuckDB {etl_result['baseline']['work']:.1f} s (results match)", flush=True)
            with sampler.phase(f"tuning {rows:,}"):
                tuned = tuning(stack.ray_address, lake, f"bench_{rows}", tmp, sampler)
            print(f"{rows:,} tuning: ours {tuned['ours']['work']:.1f} s (test "
                  f"{tuned['ours']['test_mse_over_floor']:.4f} x floor), GridSearchCV "
                  f"{tuned['baseline']['work']:.1f} s ({tuned['baseline']['test_mse_over_floor']:.4f})", flush=True)
            result["sizes"][str(rows)] = {"generation": gen, "etl": etl_result, "tuning": tuned}
            if rows != sizes[-1]:
                shutil.rmtree(tmp / "lake", ignore_errors=True)
        if "sizes" in stages:
            make_champion(lake, tuned["version"], settings)
        if "prediction" in stages:
            with sampler.phase("prediction"):
                result["prediction"] = p = prediction(stack.ray_address, lake, args.predict_rows)
            print(f"prediction of {p['rows']:,} rows: work {p['ours']['work']:.2f} s, bare predict() "
                  f"{p['baseline']['predict']:.2f} s ({p['ratio']:.2f} x){table_note(p['baseline'])}", flush=True)
        if "latency" in stages:
            with sampler.phase("latency (Airflow)"):
                result["latency"] = lat = latency(stack, lake, tuned["version"], settings, stack.ray_address)
            print(f"drop -> published through Airflow: {[round(s, 1) for s in lat['airflow_seconds']]} s; "
                  f"bare Ray job + publish {lat['bare_job_seconds']:.1f} s", flush=True)
        if "bursts" in stages:
            result["bursts"] = b = bursts(stack, work, settings, sampler)
            for key in ("big", "many"):
                r = b[key]
                print(f"burst of {r['drops']} x {r['rows_per_drop']:,} rows: last published after "
                      f"{r['last_published']:.1f} s by {r['runs']} runs {r['drops_per_run']}, exactly once: "
                      f"{r['exactly_once']}, runs {r['run_states']}", flush=True)
            print(f"bare predict() over the big burst's rows {b['big']['baseline']['predict']:.1f} s"
                  f"{table_note(b['big']['baseline'])} "
                  f"({b['big']['ratio']:.2f} x); salary_training {b['training']['alone']['seconds']:.0f} s alone, "
                  f"{b['training']['beside_burst']['seconds']:.0f} s beside the burst", flush=True)
        if SCALE in stages:
            result["scale"] = scale(settings, stack.ray_address, work, args.scale_rows, args.seed, sampler)
    phase = max(sampler.peaks, key=lambda k: sampler.peaks[k])
    pss_phase = max(sampler.pss_peaks, key=lambda k: sampler.pss_peaks[k])
    result["memory"] = {"stack_peak_bytes": sampler.peak, "stack_peak_phase": phase, "peaks_bytes": sampler.peaks,
                        "stack_pss_peak_bytes": sampler.pss_peak, "stack_pss_peak_phase": pss_phase,
                        "pss_peaks_bytes": sampler.pss_peaks, "peak_makeup": sampler.peak_makeup}
    print_makeup(sampler)
    rows = rows_of(result)
    print("\n" + table(rows))
    # Some stages only: their own files, beside (not over) the last run of every stage.
    name = "bench" if stages == set(STAGES) else "bench-" + "-".join(s for s in (*STAGES, SCALE) if s in stages)
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.results / f"{name}.md").write_text(markdown(rows) + "\n")
    written = charts(result, args.results) if name == "bench" else []
    print(f"written {args.results / name}.json, {name}.md" + "".join(f", {p.name}" for p in written))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
