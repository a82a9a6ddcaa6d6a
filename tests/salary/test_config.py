from __future__ import annotations

import dataclasses

import pytest

from salary.config import load_settings


def test_noise_floor_is_the_error_of_the_true_function_on_generated_salaries(settings):
    """The floor every model is judged against, checked on data: 400k people drawn from the
    ground truth, their rounded noisy salary against the noise-free function."""
    import numpy as np

    from devtools.synthetic import people

    t = settings.dataset.truth
    df = people(400_000, 7, settings.dataset)
    tenure = (np.datetime64(settings.dataset.as_of) - df["signup_date"].to_numpy().astype("datetime64[D]")).astype(
        float) / 365.25
    expected = t.expected_salary(df["age"].to_numpy(float), df["is_active"].to_numpy(float), tenure, np.sqrt)
    assert np.mean((df["salary"].to_numpy() - expected) ** 2) == pytest.approx(t.noise_floor_mse, rel=0.01)


def test_the_salary_function_is_the_one_config_documents(settings):
    """pipeline.toml's formula at two hand-computed points."""
    import math

    t = settings.dataset.truth
    assert t.expected_salary(t.age_min, 0.0, 0.0, math.sqrt) == t.base
    years, tenure = 10, 4.0
    by_hand = (t.base + t.age_linear * years + t.age_quadratic * years**2 + t.active_bonus
               + t.tenure_sqrt * 2.0 + t.active_tenure * tenure)
    assert t.expected_salary(t.age_min + years, 1.0, tenure, math.sqrt) == pytest.approx(by_hand)


def test_settings_load_with_their_derived_values(settings):
    t = settings.dataset.truth
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
    with pytest.raises(FileNotFoundError, match="search_spaces.toml"):  # a config folder holds both files
        load_settings(str(tmp_path / "pipeline.toml"))
    (tmp_path / "search_spaces.toml").write_text((settings.config_dir / "search_spaces.toml").read_text())
    assert load_settings(str(tmp_path / "pipeline.toml")).queries.top_n == 7


def test_search_presets_are_typed_and_checked_when_the_settings_load(settings):
    from salary.config import Asha, SearchPreset

    default, paper = settings.preset("default"), settings.preset("paper")
    assert default.asha == Asha(min_rows=50_000, reduction_factor=4, max_rows=3_200_000, target_mse_over_floor=1.004,
                                target_min_validation_rows=100_000)
    assert default.features == ("age", "is_active", "tenure_years") and default.grid is None
    assert paper.asha is None and paper.cv_folds == 3 and paper.train_rows == 10_000 and paper.features == ("age",)
    with pytest.raises(ValueError, match="unknown search preset 'nope'; known: \\['default', 'paper'\\]"):
        settings.preset("nope")
    with pytest.raises(TypeError):
        settings.presets["x"] = default  # frozen
    with pytest.raises(ValueError, match="needs cv_folds"):
        SearchPreset(name="g", description="", model="random_forest", features=("age",), grid={"n": [1]})
    with pytest.raises(ValueError, match="either a grid or a space"):
        SearchPreset(name="n", description="", model="random_forest", features=("age",))
