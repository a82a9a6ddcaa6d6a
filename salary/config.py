"""Static pipeline settings parsed from ``config/pipeline.toml`` into frozen dataclasses."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

CONFIG_ENV = "SALARY_CONFIG"
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "pipeline.toml"


@dataclass(frozen=True)
class LakeLayout:
    raw: str
    curated: str
    rejected: str
    reports: str
    models: str
    staging: str
    curated_versions_kept: int
    drops: str
    predictions: str
    spark_events: str


@dataclass(frozen=True)
class GroundTruth:
    """Coefficients of the salary function; see config/pipeline.toml for the formula."""

    base: float
    age_linear: float
    age_quadratic: float
    active_bonus: float
    tenure_sqrt: float
    active_tenure: float
    noise_sigma: float
    age_min: int
    age_max: int
    signup_years: int
    active_probability: float

    def expected_salary(self, age: Any, active: Any, tenure_years: Any, sqrt: Callable[[Any], Any]) -> Any:
        """The noise-free salary, the one definition of the ground truth. Arithmetic only, so
        it serves Spark columns (``sqrt=F.sqrt``) and numpy arrays (``sqrt=np.sqrt``) alike:
        ``age`` in years, ``active`` as 0/1 doubles, ``tenure_years`` as doubles."""
        years = age - self.age_min
        return (self.base + self.age_linear * years + self.age_quadratic * years * years
                + self.active_bonus * active + self.tenure_sqrt * sqrt(tenure_years)
                + self.active_tenure * active * tenure_years)

    @property
    def noise_floor_mse(self) -> float:
        """Best MSE any model can reach: the noise variance plus the cent-rounding variance."""
        return self.noise_sigma**2 + 0.01**2 / 12


@dataclass(frozen=True)
class DirtyData:
    duplicate_fraction: float
    null_fraction: float
    padded_name_fraction: float


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines the generated rows, apart from rows and seed."""

    as_of: dt.date
    rows_per_file: int
    generator_version: int
    names: tuple[str, ...]
    dirty: DirtyData
    truth: GroundTruth

    @property
    def signup_days(self) -> int:
        """Number of possible signup dates: as_of and the days before it, over signup_years."""
        start = self.as_of.replace(year=self.as_of.year - self.truth.signup_years)
        return (self.as_of - start).days

    def digest(self, rows: int, seed: int) -> str:
        """Stable identity of a generated dataset; equal digests mean identical rows."""
        payload = {"rows": rows, "seed": seed, **asdict(self)}
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class QuerySettings:
    top_n: int
    extreme_k: int
    age_band_starts: tuple[int, ...]


@dataclass(frozen=True)
class ScheduleSettings:
    training: str
    retries: int
    retry_delay_seconds: int
    retrain_cooldown_minutes: float
    drops_window: str
    drops_window_minutes: float

    @property
    def task_defaults(self) -> dict[str, Any]:
        """Every DAG's ``default_args``: our owner, the retries and the delay between them."""
        return {"owner": "data-eng", "retries": self.retries,
                "retry_delay": dt.timedelta(seconds=self.retry_delay_seconds)}


@dataclass(frozen=True)
class SparkSettings:
    driver_memory: str
    pool: str  # the Airflow pool of the Spark tasks (config/airflow_pools.json)
    conf: dict[str, str]
    # Event logging of the Spark tasks Airflow runs (the directory is the lake's, added per run).
    event_log: dict[str, str]


@dataclass(frozen=True)
class ModelSettings:
    test_percent: int
    validation_percent: int
    validation_rows: int
    max_rows_in_memory: int
    refit_max_rows: int
    promotion_margin: float
    labelled_window_days: float
    labelled_share: float
    labelled_half_life_days: float


@dataclass(frozen=True)
class PredictSettings:
    """Batch prediction on drops (config [predict])."""

    poke_interval_seconds: float
    wait_in_worker_seconds: float
    listing_failures_before_alert: int
    max_active_runs: int
    claim_lease_seconds: int
    batch_rows: int
    driver_rows: int
    psi_bins: int
    psi_drift: float
    psi_min_rows: int
    psi_pool_max_age_hours: float
    degraded_mse_over_test: float


@dataclass(frozen=True)
class Asha:
    """ASHA over training rows (``[<preset>.asha]``): rungs of ``min_rows * reduction_factor**k``
    rows up to ``max_rows``; the search ends at the first rung where a trial's validation MSE is
    at most ``target_mse_over_floor`` x the noise floor, applied only with at least
    ``target_min_validation_rows`` validation rows."""

    min_rows: int
    reduction_factor: int
    max_rows: int
    target_mse_over_floor: float | None = None
    target_min_validation_rows: int = 0


@dataclass(frozen=True)
class SearchPreset:
    """A hyperparameter search preset (a table of config/search_spaces.toml): either a random
    search with ASHA over ``space`` (``{param: {domain: args}}``, ``num_samples`` candidates) or
    the report's grid search over ``grid`` with ``cv_folds``-fold CV, on the first
    ``train_rows`` fit rows when given."""

    name: str
    description: str
    model: str
    features: tuple[str, ...]
    num_samples: int = 1
    space: Mapping[str, Mapping[str, list[Any]]] | None = None
    asha: Asha | None = None
    grid: Mapping[str, list[Any]] | None = None
    cv_folds: int | None = None
    train_rows: int | None = None

    def __post_init__(self) -> None:
        if (self.grid is None) == (self.space is None):
            raise ValueError(f"search preset {self.name!r}: give either a grid or a space")
        if self.grid is not None and not self.cv_folds:
            raise ValueError(f"search preset {self.name!r}: a grid search needs cv_folds")
        if self.space is not None and self.asha is None:
            raise ValueError(f"search preset {self.name!r}: a random search needs its [asha] table")


def load_presets(path: Path) -> Mapping[str, SearchPreset]:
    """The search presets of config/search_spaces.toml, checked and frozen."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    presets = {}
    for name, table in raw.items():
        fields = dict(table)
        asha = fields.pop("asha", None)
        presets[name] = SearchPreset(name=name, features=tuple(fields.pop("features")),
                                     asha=Asha(**asha) if asha is not None else None, **fields)
    return MappingProxyType(presets)


@dataclass(frozen=True)
class Settings:
    lake: LakeLayout
    dataset: DatasetSpec
    default_rows: int
    default_seed: int
    queries: QuerySettings
    schedule: ScheduleSettings
    spark: SparkSettings
    model: ModelSettings
    predict: PredictSettings
    config_dir: Path
    # The hyperparameter search presets (config/search_spaces.toml), by name.
    presets: Mapping[str, SearchPreset]

    def preset(self, name: str) -> SearchPreset:
        """The search preset ``name``; a ValueError naming the known ones otherwise."""
        if name not in self.presets:
            raise ValueError(f"unknown search preset {name!r}; known: {sorted(self.presets)}")
        return self.presets[name]


SPARK_CDS_ENV = "SALARY_SPARK_CDS"


# The JVM's own messages (unified logging; the AOT cache's, e.g. a stale cache) on stderr, not
# in the output a JVM's caller reads (spark-submit's launcher prints the driver's command line).
JVM_LOG_TO_STDERR = "-Xlog:disable -Xlog:all=warning:stderr -XX:+DisplayVMOutputToStderr"


def spark_cds_options() -> str:
    """JVM options that map the ahead-of-time cache devtools/build/spark_cds.py built (named by
    $SALARY_SPARK_CDS), or nothing when there is none."""
    cache = os.environ.get(SPARK_CDS_ENV)
    if cache and Path(cache).is_file():
        return f"-XX:AOTCache={cache} {JVM_LOG_TO_STDERR}"
    return ""


def parse_settings(raw: dict, config_dir: Path) -> Settings:
    """Build Settings from the parsed TOML document."""
    ds = raw["dataset"]
    cds = spark_cds_options()
    spark_conf = {
        key: str(value).replace("__CONFIG_DIR__", str(config_dir)).replace("__SPARK_CDS__", cds)
        for key, value in raw["spark"]["conf"].items()
    }
    event_log = {key: str(value) for key, value in raw["spark"]["event_log"].items()}
    return Settings(
        lake=LakeLayout(**raw["lake"]),
        dataset=DatasetSpec(
            as_of=dt.date.fromisoformat(ds["as_of"]),
            rows_per_file=int(ds["rows_per_file"]),
            generator_version=int(ds["generator_version"]),
            names=tuple(ds["names"]),
            dirty=DirtyData(**ds["dirty"]),
            truth=GroundTruth(**ds["ground_truth"]),
        ),
        default_rows=int(ds["rows"]),
        default_seed=int(ds["seed"]),
        queries=QuerySettings(
            top_n=int(raw["queries"]["top_n"]),
            extreme_k=int(raw["queries"]["extreme_k"]),
            age_band_starts=tuple(raw["queries"]["age_band_starts"]),
        ),
        schedule=ScheduleSettings(
            training=raw["schedule"]["training"],
            retries=int(raw["schedule"]["retries"]),
            retry_delay_seconds=int(raw["schedule"]["retry_delay_seconds"]),
            retrain_cooldown_minutes=float(raw["schedule"]["retrain_cooldown_minutes"]),
            drops_window=raw["schedule"]["drops_window"],
            drops_window_minutes=float(raw["schedule"]["drops_window_minutes"]),
        ),
        spark=SparkSettings(driver_memory=raw["spark"]["driver_memory"], pool=raw["spark"]["pool"], conf=spark_conf,
                            event_log=event_log),
        model=ModelSettings(**raw["model"]),
        predict=PredictSettings(**raw["predict"]),
        config_dir=config_dir,
        presets=load_presets(config_dir / "search_spaces.toml"),
    )


@lru_cache(maxsize=4)
def load_settings(path: str | None = None) -> Settings:
    """Load settings from ``path``, ``$SALARY_CONFIG`` or the repository's config/."""
    config_path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).resolve()
    if not config_path.is_file():
        raise FileNotFoundError(
            f"pipeline settings not found at {config_path}: pass --config or set ${CONFIG_ENV}"
        )
    with config_path.open("rb") as fh:
        return parse_settings(tomllib.load(fh), config_path.parent)
