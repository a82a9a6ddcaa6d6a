"""The tuning baseline, in its own process: scikit-learn's GridSearchCV(n_jobs=2) over the
candidates tune_model sampled, on the same shuffled fit rows (the preset's largest ASHA budget),
3-fold CV, the winner refitted on those rows with every core; scored on the same test ids.

    python bench/gridsearch.py --lake-root URI --curated-run RUN --candidates FILE.json

Prints one JSON line: seconds of load / search / refit, the winner and its test metrics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from salary.config import load_settings
from salary.lake import Lake, LakeIO
from salary.lake.fsspec_store import FsspecStore
from salary.model.features import build_pipeline, features, regression_metrics, split
from salary.model.train import ground_truth, load_curated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-root", required=True)
    parser.add_argument("--curated-run", required=True)
    parser.add_argument("--candidates", type=Path, required=True, help="JSON list of configurations")
    args = parser.parse_args(argv)
    from sklearn.model_selection import GridSearchCV

    settings = load_settings()
    candidates = json.loads(args.candidates.read_text())
    preset, m = settings.preset("default"), settings.model
    t0 = time.perf_counter()
    df, manifest = load_curated(LakeIO(Lake(args.lake_root, settings.lake), FsspecStore()), args.curated_run,
                                m.max_rows_in_memory)
    floor, as_of = ground_truth(manifest, settings)
    parts = split(df["id"].to_numpy(), m.test_percent, m.validation_percent)
    X, y = features(df, as_of, preset.features), df["salary"].to_numpy(np.float64)
    assert preset.asha is not None
    rows = np.random.default_rng(0).permutation(np.flatnonzero(parts.fit))[: preset.asha.max_rows]
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    grid = [{f"model__{k}": [v] for k, v in c.items()} for c in candidates]
    search = GridSearchCV(build_pipeline(preset.model, candidates[0], threads=1), grid, cv=3, n_jobs=2,
                          scoring="neg_mean_squared_error", refit=False)
    search.fit(X[rows], y[rows])
    best = candidates[int(np.argmax(search.cv_results_["mean_test_score"]))]
    search_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = build_pipeline(preset.model, best, threads=-1).fit(X[rows], y[rows])
    refit_s = time.perf_counter() - t0
    test = regression_metrics(y[parts.test], model.predict(X[parts.test]), floor, float(y[rows].mean()))
    print(json.dumps({"load_s": load_s, "search_s": search_s, "refit_s": refit_s, "refit_rows": len(rows),
                      "fits": 3 * len(candidates), "best": best, "test": test}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
