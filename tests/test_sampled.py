"""Rank correlations and standardised regression coefficients from kept draws."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digimpact.errors import UsageError
from digimpact.sampled import output_sectors, regression_indices


def _uniform(n: int, k: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(size=(n, k)), columns=[f"x{i}" for i in range(k)])


def test_src_of_a_linear_model_is_coefficient_times_sd_ratio():
    # y = 2 x0 - 5 x1 + 0 x2: the least-squares fit is exact, so SRC_i = a_i sd(x_i) / sd(y)
    x = _uniform(500, 3)
    a = np.array([2.0, -5.0, 0.0])
    y = x.to_numpy() @ a
    t = regression_indices(x, y)
    expected = a * x.std(ddof=0).to_numpy() / y.std()
    assert t.loc[["x0", "x1", "x2"], "src"].to_numpy() == pytest.approx(expected, abs=1e-12)
    assert t.attrs["r2"] == pytest.approx(1.0, abs=1e-12)
    assert list(t.index) == ["x1", "x0", "x2"]  # by |src|


def test_src_of_independent_uniform_inputs_approaches_the_population_value():
    # population SRC_i = a_i / sqrt(sum a_j^2) for equal input variances: 3/5 and 4/5
    x = _uniform(200_000, 2, seed=1)
    t = regression_indices(x, 3 * x["x0"] + 4 * x["x1"])
    assert t.loc["x0", "src"] == pytest.approx(0.6, abs=0.005)
    assert t.loc["x1", "src"] == pytest.approx(0.8, abs=0.005)
    # Spearman of a uniform with a sum of uniforms: close to Pearson here, below SRC for x1
    assert 0.5 < t.loc["x0", "spearman"] < 0.65 and 0.7 < t.loc["x1", "spearman"] < 0.82


def test_spearman_sees_a_monotone_model_that_src_underrates():
    x = _uniform(2000, 2, seed=2)
    y = np.exp(12 * x["x0"])  # monotone in x0 alone
    t = regression_indices(x, y)
    assert t.loc["x0", "spearman"] == pytest.approx(1.0)
    assert abs(t.loc["x1", "spearman"]) < 0.1
    assert t.attrs["r2"] < 0.7  # far from linear: the SRCs explain little


def test_a_constant_input_gets_nan_and_does_not_disturb_the_others():
    x = _uniform(300, 2, seed=3)
    x["c"] = 4.0
    t = regression_indices(x, x["x0"] + x["x1"])
    assert np.isnan(t.loc["c", "src"]) and np.isnan(t.loc["c", "spearman"])
    assert t.index[-1] == "c"
    assert t.attrs["r2"] == pytest.approx(1.0)


def test_bad_shapes_and_a_constant_output_are_usage_errors():
    x = _uniform(10, 2)
    with pytest.raises(UsageError, match="one output per draw"):
        regression_indices(x, np.ones(9))
    with pytest.raises(UsageError, match="does not vary"):
        regression_indices(x, np.ones(10))


@given(scale=st.floats(0.01, 100), shift=st.floats(-100, 100), seed=st.integers(0, 2**16))
def test_indices_do_not_change_under_an_increasing_affine_map_of_an_input(scale, shift, seed):
    x = _uniform(200, 3, seed)
    y = x["x0"] ** 2 + 0.5 * x["x1"] - x["x2"] * x["x0"]
    moved = x.assign(x1=scale * x["x1"] + shift)
    a, b = regression_indices(x, y), regression_indices(moved, y)
    pd.testing.assert_frame_equal(a, b, atol=1e-9, rtol=1e-9)
    assert a.attrs["r2"] == pytest.approx(b.attrs["r2"])


def test_output_sectors_names(example):
    assert output_sectors(example, "total") == list(example.sectors)
    assert output_sectors(example, "transport") == ["transport"]
    with pytest.raises(UsageError, match="unknown output 'nope'"):
        output_sectors(example, "nope")
