"""Adoption curves: bounds, monotonicity, vectorisation and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from digimpact import adoption
from digimpact.adoption import CURVES

YEARS = st.floats(2000, 2060, allow_nan=False)
SHARE = st.floats(0.0, 1.0, allow_nan=False)
STEEP = st.floats(0.05, 3.0, allow_nan=False)


@st.composite
def curve_params(draw, kind: str, n: int) -> tuple[dict, np.ndarray]:
    """Valid parameters of curve ``kind`` for ``n`` draws, and each draw's ceiling."""
    def arr(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)), dtype=float)

    if kind in ("logistic", "gompertz"):
        p = {"midpoint": arr(YEARS), "steepness": arr(STEEP), "ceiling": arr(SHARE)}
    elif kind == "bass":
        p = {"p": arr(st.floats(1e-3, 0.5)), "q": arr(st.floats(0.0, 1.5)),
             "start": arr(YEARS), "ceiling": arr(SHARE)}
    elif kind == "linear":
        start = arr(YEARS)
        p = {"start": start, "end": start + arr(st.floats(0.5, 30.0)), "ceiling": arr(SHARE)}
    elif kind == "step":
        p = {"year": arr(YEARS), "ceiling": arr(SHARE)}
    elif kind == "table":
        years = draw(st.lists(st.integers(2000, 2060), min_size=1, max_size=6, unique=True))
        shares = sorted(draw(st.lists(SHARE, min_size=len(years), max_size=len(years))))
        points = dict(zip(sorted(years), shares, strict=True))
        # give the milestones in a scrambled order: the curve must sort them itself
        points = dict(sorted(points.items(), key=lambda kv: (kv[0] * 7919) % 61))
        scale = arr(st.floats(0.0, 1.0))
        return {"points": points, "scale": scale}, scale * max(shares)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return p, p["ceiling"]


def test_curves_registry_lists_every_kind():
    assert set(CURVES) == {"logistic", "bass", "gompertz", "linear", "step", "table"}
    for kind, curve in CURVES.items():
        # every uncertain parameter has a known domain; defaults are for known parameters
        assert set(curve.domains.values()) <= {"year", "share", "positive", "nonnegative",
                                                 "innovation", "imitation"}, kind
        assert set(curve.defaults) <= set(curve.domains), kind
    assert CURVES["table"].fixed == ("points",)


@pytest.mark.parametrize("kind", sorted(CURVES))
@settings(max_examples=30)
@given(data=st.data())
def test_bounded_monotone_and_vectorised(kind, data):
    n = data.draw(st.integers(1, 5), label="n")
    params, ceiling = data.draw(curve_params(kind, n), label="params")
    years = np.array(sorted(data.draw(st.lists(st.floats(1990, 2070), min_size=2, max_size=30))))

    out = CURVES[kind](years, **params)
    assert out.shape == (n, len(years))
    assert np.all(out >= 0.0)
    assert np.all(out <= ceiling[:, None])
    assert np.all(np.diff(out, axis=-1) >= 0.0), "curve decreases in time"

    # one draw at a time (scalar parameters) gives the same rows
    for i in range(n):
        one = {k: (v if k == "points" else float(v[i])) for k, v in params.items()}
        row = CURVES[kind](years, **one)
        assert row.shape == (len(years),)
        np.testing.assert_array_equal(row, out[i])
        # scalar year: no year axis
        scalar = CURVES[kind](float(years[-1]), **one)
        assert np.ndim(scalar) == 0
        assert float(scalar) == out[i, -1]

    # one time axis per draw, shape (n, Y), works too
    per_draw = np.broadcast_to(years, (n, len(years)))
    np.testing.assert_array_equal(CURVES[kind](per_draw, **params), out)

    # proportional to the level parameter (the engine folds value weights into it)
    weight = np.array(data.draw(st.lists(st.floats(0.0, 50.0), min_size=n, max_size=n), label="weight"))
    level = CURVES[kind].level
    scaled = CURVES[kind](years, **{**params, level: params[level] * weight})
    np.testing.assert_allclose(scaled, out * weight[:, None], rtol=1e-12, atol=1e-300)


# ----------------------------------------------------------------------------- Bass
def bass_closed_form(tau: float, p: float, q: float) -> float:
    if tau <= 0:
        return 0.0
    e = math.exp(-(p + q) * tau)
    return (1.0 - e) / (1.0 + (q / p) * e)


@given(p=st.floats(1e-3, 0.2), q=st.floats(0.0, 1.0), start=st.integers(2000, 2030),
       ceiling=st.floats(0.05, 1.0))
def test_bass_closed_form(p, q, start, ceiling):
    years = np.arange(start - 3, start + 40, 0.5)
    expected = np.array([ceiling * bass_closed_form(y - start, p, q) for y in years])
    got = adoption.bass(years, p=p, q=q, start=start, ceiling=ceiling)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.all(got[years <= start] == 0.0)


def test_bass_published_values():
    # Bass (1969) with the meta-analysis means p=0.03, q=0.38: 10 years after launch
    # F = (1 - e^-4.1) / (1 + (38/3) e^-4.1) = 0.98343 / 1.20985 = 0.8128
    assert adoption.bass(2030, p=0.03, q=0.38, start=2020) == pytest.approx(
        (1 - math.exp(-4.1)) / (1 + (0.38 / 0.03) * math.exp(-4.1)), rel=1e-12)
    assert adoption.bass(2030, p=0.03, q=0.38, start=2020) == pytest.approx(0.8128, abs=1e-4)


@given(p=st.floats(0.005, 0.1), ratio=st.floats(2.0, 40.0))
def test_bass_peak_adoption_rate(p, ratio):
    q = p * ratio
    t_star = math.log(q / p) / (p + q)
    h = 1e-3
    taus = np.arange(0.0, 3 * t_star + 1.0, h)
    f = adoption.bass(2000 + taus, p=p, q=q, start=2000)
    rate = np.diff(f) / h  # rate on the midpoints of the grid
    mids = taus[:-1] + h / 2
    assert mids[np.argmax(rate)] == pytest.approx(t_star, abs=2 * h)


# ----------------------------------------------------------------------------- logistic
@given(m=st.floats(2000, 2050), k=STEEP, c=st.floats(0.01, 1.0))
def test_logistic_midpoint_and_10_to_90_time(m, k, c):
    assert adoption.logistic(m, midpoint=m, steepness=k, ceiling=c) == c / 2

    def crossing(level):
        return brentq(lambda t: adoption.logistic(t, m, k, c) - level * c, m - 100 / k, m + 100 / k,
                      xtol=1e-12)

    assert crossing(0.9) - crossing(0.1) == pytest.approx(math.log(81) / k, rel=1e-8)
    # the documented 4.39 / steepness
    assert math.log(81) == pytest.approx(4.39, abs=0.005)


def test_logistic_values():
    got = adoption.logistic([2024, 2025, 2026], 2025, 1.0, 0.8)
    expected = [0.8 / (1 + math.exp(1)), 0.4, 0.8 / (1 + math.exp(-1))]
    np.testing.assert_allclose(got, expected, rtol=1e-14)


# ----------------------------------------------------------------------------- Gompertz
@given(m=st.floats(2000, 2050), k=STEEP, c=st.floats(0.01, 1.0))
def test_gompertz_midpoint_is_ceiling_over_e(m, k, c):
    assert adoption.gompertz(m, midpoint=m, steepness=k, ceiling=c) == pytest.approx(c / math.e,
                                                                                      rel=1e-14)
    t = m + 2.0
    assert adoption.gompertz(t, m, k, c) == pytest.approx(c * math.exp(-math.exp(-2 * k)),
                                                          rel=1e-12)


# ----------------------------------------------------------------------------- linear, step
def test_linear_and_step_values():
    np.testing.assert_allclose(adoption.linear([2019, 2020, 2023, 2030, 2031], 2020, 2030, 0.5),
                               [0.0, 0.0, 0.15, 0.5, 0.5], rtol=1e-14)
    np.testing.assert_array_equal(adoption.step([2024, 2024.99, 2025, 2026], 2025, 0.3),
                                  [0.0, 0.0, 0.3, 0.3])


# ----------------------------------------------------------------------------- table
MILESTONES = {2020: 0.09, 2025: 0.20, 2030: 0.30}


def test_table_interpolates_published_milestones():
    years = [2010, 2019, 2020, 2021, 2022.5, 2025, 2027, 2030, 2031, 2050]
    expected = [0.09, 0.09, 0.09, 0.09 + 0.11 / 5, 0.145, 0.20, 0.20 + 0.10 * 2 / 5, 0.30, 0.30,
                0.30]
    np.testing.assert_allclose(adoption.table(years, MILESTONES), expected, rtol=1e-12)
    # scaled, and milestones given in any order
    shuffled = {2030: 0.30, 2020: 0.09, 2025: 0.20}
    np.testing.assert_allclose(adoption.table(years, shuffled, scale=0.5),
                               0.5 * np.array(expected), rtol=1e-12)
    # string years (as TOML keys) are accepted
    as_text = {str(k): v for k, v in MILESTONES.items()}
    np.testing.assert_allclose(adoption.table(years, as_text), expected, rtol=1e-12)


def test_table_per_draw_scale():
    scale = np.array([0.5, 1.0, 2.0])
    out = adoption.table([2020, 2030], MILESTONES, scale=scale)
    np.testing.assert_allclose(out, [[0.045, 0.15], [0.09, 0.30], [0.18, 0.60]], rtol=1e-12)


def test_module_docstring_examples(monkeypatch):
    import doctest

    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    saved = np.get_printoptions()
    np.set_printoptions(legacy="1.25")  # the examples are written for numpy 1.x scalar reprs
    try:
        result = doctest.testmod(adoption, optionflags=doctest.ELLIPSIS)
    finally:
        np.set_printoptions(**saved)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(("kind", "params", "limit"), [
    ("logistic", {"midpoint": 2025.0, "steepness": 0.3, "ceiling": 0.7}, 0.7),
    ("gompertz", {"midpoint": 2025.0, "steepness": 0.3, "ceiling": 0.7}, 0.7),
    ("bass", {"p": 0.03, "q": 0.38, "start": 2020.0, "ceiling": 0.7}, 0.7),
    ("linear", {"start": 2020.0, "end": 2100.0, "ceiling": 0.7}, 0.7),
    ("step", {"year": 2150.0, "ceiling": 0.7}, 0.7),
    ("table", {"scale": 0.5, "points": {2020: 0.2, 2040: 0.9, 2030: 0.6}}, 0.45),
])
def test_limit_is_the_curve_once_adoption_is_complete(kind, params, limit):
    curve = CURVES[kind]
    assert float(curve.limit(**params)) == pytest.approx(limit, rel=1e-15)
    assert float(curve(np.inf, **params)) == pytest.approx(limit, rel=1e-15)
    assert float(curve(1e6, **params)) == pytest.approx(limit, rel=1e-12)
    # the curve stays at or below its limit in every year
    assert (curve(np.arange(1950, 2200), **params) <= limit * (1 + 1e-15)).all()
