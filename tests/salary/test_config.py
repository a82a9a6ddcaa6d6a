from __future__ import annotations

import dataclasses

from salary.config import load_settings


def test_settings_load_with_the_documented_ground_truth(settings):
    t = settings.dataset.truth
    assert t.noise_floor_mse == t.noise_sigma**2 + 0.01**2 / 12
    assert settings.dataset.signup_days in (3652, 3653)
    assert "__CONFIG_DIR__" not in " ".join(settings.spark.conf.values())
    assert str(settings.config_dir) in settings.spark.conf["spark.driver.extraJavaOptions"]
    assert settings.queries.age_band_starts[0] == t.age_min


def test_digest_identifies_rows_seed_and_spec(settings):
    spec = settings.dataset
    base = spec.digest(1000, 1)
    assert base == spec.digest(1000, 1)
    assert len({base, spec.digest(1001, 1), spec.digest(1000, 2),
                dataclasses.replace(spec, generator_version=99).digest(1000, 1),
                dataclasses.replace(spec, truth=dataclasses.replace(spec.truth, noise_sigma=1.0)).digest(1000, 1)}) == 5


def test_config_path_override(tmp_path, settings):
    text = (settings.config_dir / "pipeline.toml").read_text().replace("top_n = 100", "top_n = 7")
    (tmp_path / "pipeline.toml").write_text(text)
    assert load_settings(str(tmp_path / "pipeline.toml")).queries.top_n == 7
