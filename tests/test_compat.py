"""Compat shim: scipy's private _ppf used when it agrees with the public ppf, else ppf."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
from scipy import stats

from digimpact import _compat
from digimpact._compat import private_ppf_ok, standard_ppf
from digimpact.distributions import batch_ppf, parse

Q = np.random.default_rng(0).random((3, 50)) * (1 - 2e-9) + 1e-9
# shape arguments per row (rows, 1), as BatchPPF passes them
SHAPES = {
    "uniform": [],
    "norm": [],
    "triang": [[0.0, 0.4, 1.0]],
    "beta": [[0.5, 2.0, 7.5], [3.0, 1.0, 0.8]],
    "truncnorm": [[-np.inf, -2.0, 0.5], [1.0, 2.0, np.inf]],
    "lognorm": [[0.1, 0.5, 2.0]],
}


def shape_args(name: str) -> list[np.ndarray]:
    return [np.array(values)[:, None] for values in SHAPES[name]]


def fake_beta(private=None):
    """A stand-in for ``scipy.stats.beta`` (a class of its own, so checked afresh) whose private
    ``_ppf`` is ``private`` (absent if None), recording which of ``_ppf`` and ``ppf`` answer."""
    calls: list[str] = []

    def public(self, q, *shapes):
        calls.append("ppf")
        return stats.beta.ppf(q, *shapes)

    def private_call(self, q, *shapes):
        calls.append("_ppf")
        return private(q, *shapes)

    attrs = {"name": "beta", "ppf": public} | ({"_ppf": private_call} if private else {})
    return type("FakeBeta", (), attrs)(), calls


@pytest.mark.parametrize("name", list(SHAPES))
def test_private_ppf_used_for_digimpacts_families(name):
    family = getattr(stats, name)
    assert private_ppf_ok(family)
    got = standard_ppf(family, Q, *shape_args(name))
    np.testing.assert_array_equal(got, family._ppf(Q, *shape_args(name)))
    np.testing.assert_array_equal(got, family.ppf(Q, *shape_args(name)))


def test_private_ppf_of_a_frozen_distribution_family():
    # BatchPPF passes frozen.dist, a new instance of the family's class
    family = stats.beta(2.0, 3.0).dist
    assert family is not stats.beta and private_ppf_ok(family)


def test_families_not_checked_take_the_public_ppf():
    assert not private_ppf_ok(stats.gamma)
    np.testing.assert_array_equal(standard_ppf(stats.gamma, Q, np.array([[2.0]])),
                                  stats.gamma.ppf(Q, 2.0))


def test_fast_branch_calls_the_private_ppf_once_checked():
    family, calls = fake_beta(stats.beta._ppf)
    a, b = shape_args("beta")
    for _ in range(3):
        np.testing.assert_array_equal(standard_ppf(family, Q, a, b), stats.beta.ppf(Q, a, b))
    # one check (one call of each), then the private one only
    assert calls == ["_ppf", "ppf", "_ppf", "_ppf", "_ppf"]


def _missing_ppf(q, a, b):  # the private ppf renamed away
    raise AttributeError("_ppf")


@pytest.mark.parametrize("private", [
    None,  # removed: AttributeError
    _missing_ppf,
    lambda q: stats.beta._ppf(q, 2.0, 2.0),  # other arguments: TypeError
    lambda q, a, b: stats.beta._ppf(q[:, :1], a, b),  # other shapes of answer
    lambda q, a, b: np.broadcast_arrays(q, a, b, np.zeros(5))[0],  # broadcasting: ValueError
    lambda q, a, b: stats.beta._ppf(1 - q, a, b),  # another convention (upper tail)
    lambda q, a, b: np.nextafter(stats.beta._ppf(q, a, b), np.inf),  # one ulp off
], ids=["removed", "attribute-error", "signature", "shape", "broadcast", "convention", "ulp"])
def test_fallback_to_the_public_ppf(private):
    family, calls = fake_beta(private)
    assert not private_ppf_ok(family)
    calls.clear()
    a, b = shape_args("beta")
    np.testing.assert_array_equal(standard_ppf(family, Q, a, b), stats.beta.ppf(Q, a, b))
    assert calls == ["ppf"]


def test_fallback_gives_batch_ppf_the_same_bits(monkeypatch):
    dists = [parse(s) for s in (
        {"dist": "uniform", "low": 1.0, "high": 3.0},
        {"dist": "triangular", "low": 0.02, "mode": 0.04, "high": 0.07},
        {"dist": "pert", "low": 0.0, "mode": 0.2, "high": 1.0},
        {"dist": "normal", "mean": 1.0, "sd": 0.5},
        {"dist": "normal", "mean": 0.01, "sd": 0.003, "low": 0.0},
        {"dist": "lognormal", "p05": 5.0, "p95": 10.0},
        {"dist": "beta", "a": 2.0, "b": 5.0, "low": -1.0, "high": 1.0},
    )]
    q = np.random.default_rng(1).random((len(dists), 200))
    fast = batch_ppf(dists, q)
    monkeypatch.setattr(_compat, "private_ppf_ok", lambda family: False)
    np.testing.assert_array_equal(batch_ppf(dists, q), fast)


def test_compat_is_a_leaf_module():
    tree = ast.parse(inspect.getsource(_compat))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("digimpact")]
    assert all(n.level == 0 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
