"""Option vocabularies (one declaration each, one check), the settings resolver, the
deprecated positional forms and the combinations of options that are refused."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import digimpact
from digimpact import options
from digimpact.cli import _parser
from digimpact.errors import UsageError, check_choice, check_whole
from digimpact.options import SamplerName, choices, positional_deprecated
from digimpact.plan import Plan
from digimpact.records import RunSettings, Settings
from digimpact.sampling import SAMPLERS

SRC = Path(__file__).parents[1] / "src" / "digimpact"
VOCABULARIES = [getattr(options, name) for name in options.__all__ if name[0].isupper()]


# ----------------------------------------------------------------------------- vocabularies
DOC_TYPE_LINE = re.compile(r"^\s*[\w, ]+ : \{")  # numpydoc: ``sampler : {"random", ...}``


def code_lines(pattern: re.Pattern) -> list[str]:
    """Files and lines of src/digimpact matching ``pattern``, numpydoc type lines left out."""
    return [f"{path.name}:{line}" for path in sorted(SRC.glob("*.py"))
            for line in path.read_text().splitlines()
            if pattern.search(line) and not DOC_TYPE_LINE.match(line)]


def test_each_vocabulary_is_declared_once_in_the_source():
    for vocabulary in VOCABULARIES:
        words = choices(vocabulary)
        # the words as a whole tuple, list or Literal: ("random", "lhs", "sobol")
        pattern = re.compile(r"[\[(]" + ", ".join(re.escape(f'"{w}"') for w in words) + r"[\])]")
        found = [line.split(":")[0] for line in code_lines(pattern)]
        composed = any(vocabulary is v for v in (options.ReportMetric, options.ScenarioMetric))
        assert found == ["options.py"] or (composed and not found), words


def test_the_registries_and_the_command_line_use_the_vocabularies():
    assert tuple(SAMPLERS) == choices(SamplerName)
    run = _parser()._subparsers._group_actions[0].choices["run"]
    by_dest = {a.dest: tuple(a.choices) for a in run._actions if a.choices}
    assert by_dest == {"sampler": ("random", "lhs", "sobol"), "backend": ("local", "dask"),
                       "outputs": ("full", "target_year"), "format": ("table", "json")}
    assert choices(options.ReportMetric) == (*choices(options.Estimand), "both")
    assert choices(options.ScenarioMetric) == (*choices(options.TargetMetric), "both")


@given(data=st.data())
def test_check_choice_takes_each_word_and_names_the_rest(data):
    vocabulary = data.draw(st.sampled_from(VOCABULARIES))
    words = choices(vocabulary)
    word = data.draw(st.sampled_from(words))
    assert check_choice(word, vocabulary, "option") == word
    other = data.draw(st.text(max_size=12).filter(lambda w: w not in words))
    with pytest.raises(UsageError) as info:
        check_choice(other, vocabulary, "option")
    assert str(info.value).startswith(f"unknown option {other!r}")
    assert str(info.value).endswith(f"; expected one of {', '.join(words)}")


def test_check_choice_suggests_and_takes_plain_sequences():
    with pytest.raises(UsageError, match=r"^unknown metric 'anual' \(did you mean 'annual'\?\); "):
        check_choice("anual", options.MetricName, "metric")
    with pytest.raises(UsageError, match=r"^unknown x 3; expected one of a, b$"):
        check_choice(3, ("a", "b"), "x")


# ----------------------------------------------------------------------------- settings
@given(draws=st.integers(1, 2**40), seed=st.integers(0, 2**63 - 1),
       sampler=st.sampled_from(choices(SamplerName)))
def test_resolve_keeps_what_is_given(draws, seed, sampler):
    defaults = Settings(draws=5, seed=6, sampler="sobol")
    assert defaults.resolve(draws=draws, seed=seed, sampler=sampler) == (draws, seed, sampler)
    assert defaults.resolve() == RunSettings(5, 6, "sobol")  # None takes the default
    assert defaults.resolve(seed=0) == RunSettings(5, 0, "sobol")  # 0 is not None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"draws": 0}, "draws must be an integer >= 1, got 0"),
    ({"draws": 1.5}, "draws must be an integer >= 1, got 1.5"),
    ({"seed": 2**63}, "seed must be an integer >= 0 and < 2**63, got 9223372036854775808"),
    ({"sampler": "halton"}, "unknown sampler 'halton'; expected one of random, lhs, sobol"),
])
def test_resolve_refuses(kwargs, message):
    with pytest.raises(UsageError) as info:
        Settings(draws=5, seed=6, sampler="lhs").resolve(**kwargs)
    assert str(info.value) == message


def test_check_whole_takes_integral_floats_only():
    assert check_whole(2e3, "n", 1) == 2000 and check_whole(np.int64(7), "n", 1) == 7
    for bad in (True, 2.5, "3", None):
        with pytest.raises(UsageError, match="n must be an integer >= 1"):
            check_whole(bad, "n", 1)


# ----------------------------------------------------------------------------- positional forms
def test_positional_use_warns_and_maps_to_the_keywords(example):
    r = digimpact.simulate(example, draws=100, seed=2, progress=False)
    with pytest.warns(FutureWarning, match=r"pass groups, year as a keyword \(groups=\.\.\., "
                                           r"year=\.\.\.\) to interval\(\)"):
        old = r.interval(["core"], 2025)
    assert old == r.interval(groups=["core"], year=2025)
    with pytest.warns(FutureWarning, match="pass draws, seed"):
        again = digimpact.simulate(example, 100, 2, progress=False)
    assert again.dataset["value"].equals(r.dataset["value"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r.interval(groups=["core"], year=2025)  # the keyword form does not warn


def test_positional_shim_refuses_what_python_refuses():
    @positional_deprecated("b")
    def f(a, *, b=0):
        return a + b

    with pytest.raises(TypeError, match="takes at most 2 positional arguments"):
        f(1, 2, 3)
    with pytest.raises(TypeError, match="multiple values for argument 'b'"):
        f(1, 2, b=3)


# ----------------------------------------------------------------------------- combinations
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"client": "tcp://127.0.0.1:1"}, "client only applies to backend='dask': pass backend='dask' "
                                      "as well, or leave it out to run in this process"),
    ({"lazy": True, "client": "tcp://x:1"}, "client and lazy=True only apply to backend='dask'"),
    ({"backend": "dask", "progress": True}, "progress bars show on the local backend only"),
])
def test_options_a_backend_would_ignore_are_refused(example, kwargs, message, monkeypatch):
    monkeypatch.setattr(Plan, "build", None)  # refused before any work
    with pytest.raises(UsageError) as info:
        digimpact.simulate(example, draws=8, **kwargs)
    assert str(info.value).startswith(message)


def test_simulate_many_defaults_to_the_local_backend(example, monkeypatch):
    import digimpact.distributed

    monkeypatch.setattr(digimpact.distributed, "run", None)  # dask is not touched
    [r] = digimpact.simulate_many([example], draws=50, progress=False)
    assert r.dataset["value"].equals(digimpact.simulate(example, draws=50, progress=False).dataset["value"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "npv"}, "metric 'npv' needs a discount rate: pass rate=0.03"),
    ({"metric": "annual", "rate": 0.03}, "rate applies to metric 'npv' only, not 'annual'"),
    ({"metric": "share_of_value_added", "start": 2021}, "start applies to metrics 'cumulative' and"),
    ({"metric": "full_potential", "start": 2021}, "start applies to metrics 'cumulative' and"),
    ({"metric": "full_potential", "rate": 0.03}, "rate applies to metric 'npv' only"),
    ({"metric": "cumulative", "rate": 0.0}, "rate applies to metric 'npv' only, not 'cumulative'"),
])
def test_metric_options_that_mean_nothing_are_refused(example, kwargs, message):
    r = digimpact.simulate(example, draws=20, progress=False)
    with pytest.raises(UsageError, match=re.escape(message)):
        r.metric(**kwargs)
    with pytest.raises(UsageError, match=re.escape(message)):
        r.interval(**kwargs)


def test_sensitivity_checks_its_vocabularies(example):
    for kwargs, word in (({"method": "morris"}, "method"), ({"by": "sectors"}, "grouping"),
                         ({"metric": "npv"}, "metric")):
        with pytest.raises(UsageError, match=f"unknown {word} "):
            digimpact.sensitivity(example, **kwargs)


def test_grep_finds_one_definition_of_the_sampler_and_outputs_words():
    found = code_lines(re.compile('"lhs", "sobol"|"full", "target_year"'))
    assert found == ['options.py:SamplerName = Literal["random", "lhs", "sobol"]',
                     'options.py:OutputsName = Literal["full", "target_year"]']
