"""Every public name of digimpact has a docstring: each module's ``__all__`` and the public
methods and properties of the classes listed there."""

import functools
import importlib
import inspect
import pkgutil

import pytest

import digimpact

MODULES = [importlib.import_module(f"digimpact.{m.name}") for m in pkgutil.iter_modules(digimpact.__path__)]


def _function(member):
    """The function behind a class member (method, property, cached property), or None."""
    if isinstance(member, property):
        return member.fget
    if isinstance(member, functools.cached_property):
        return member.func
    member = getattr(member, "__func__", member)  # classmethod, staticmethod
    return member if inspect.isfunction(member) else None


def public_callables(module):
    """``(qualified name, object)`` of the module's public functions, classes and their members."""
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or obj.__module__ != module.__name__:
            continue  # constants, modules and names re-exported from elsewhere
        yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
            fields = getattr(obj, "_fields", ())  # NamedTuple fields are documented by the class
            for attr, member in vars(obj).items():
                func = _function(member)
                if func is not None and not attr.startswith("_") and attr not in fields:
                    yield f"{module.__name__}.{name}.{attr}", func


def test_the_walk_finds_classes_methods_and_properties():
    names = {name for m in MODULES for name, _ in public_callables(m)}
    assert {"digimpact.plan.Plan.build", "digimpact.loader.Origins.record",
            "digimpact.scenario.Scenario.hash", "digimpact.results.Results.unit",
            "digimpact.engine.simulate"} <= names
    assert "digimpact.engine.SEED_LIMIT" not in names


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_has_a_docstring(module):
    missing = [name for name, obj in public_callables(module) if not (obj.__doc__ or "").strip()]
    assert missing == []
