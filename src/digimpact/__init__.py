"""digimpact: the GDP impact of digital and AI use-case adoption, sector by sector.

Data flow: scenario file -> :class:`Scenario` -> sampler -> engine -> :class:`Results`
-> summaries and plots.

Examples
--------
>>> import digimpact
>>> scenario = digimpact.load_scenario("scenarios/examples/minimal.toml")
>>> results = digimpact.simulate(scenario, draws=2000, seed=42)
>>> table = results.summary()
>>> "total" in table.index.get_level_values("level")
True
"""

from importlib.metadata import PackageNotFoundError, version

from . import adoption, discovery, distributions, plot, sampled, structural
from .calibrate import CalibrationReport, calibrate
from .compare import Comparison, compare
from .engine import simulate, simulate_many
from .errors import ScenarioError
from .explore import explore
from .reproduce import Reproduction, reproduce
from .results import Results, open_results
from .scenario import Scenario, load_scenario
from .sensitivity import sensitivity

try:
    __version__ = version("digimpact")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "CalibrationReport",
    "Comparison",
    "Reproduction",
    "Results",
    "Scenario",
    "ScenarioError",
    "__version__",
    "adoption",
    "calibrate",
    "compare",
    "discovery",
    "distributions",
    "explore",
    "load_scenario",
    "open_results",
    "plot",
    "reproduce",
    "sampled",
    "sensitivity",
    "simulate",
    "simulate_many",
    "structural",
]
