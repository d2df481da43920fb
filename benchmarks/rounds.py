"""Interleaved rounds for benchmarks on a shared machine whose speed drifts.

Every job runs once per round, in the same order, so a slow phase of the machine affects all
jobs alike; a job's result is its fastest round, with every round's time kept so that ratios can
be compared within a round.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Sequence


def interleaved(jobs: Sequence[Hashable], rounds: int, measure: Callable[[Hashable], dict],
                label: Callable[[Hashable], str] = str) -> dict[Hashable, dict]:
    """Run ``measure(job)`` for every job, ``rounds`` times interleaved; return :func:`best_of` each.

    ``measure`` returns a dict with ``seconds`` (and optionally ``*_rss_mib`` keys) or with
    ``error``.
    """
    runs: dict[Hashable, list[dict]] = {job: [] for job in jobs}
    for k in range(rounds):
        for job in jobs:
            print(f"round {k + 1}/{rounds}: {label(job)} ...", file=sys.stderr, flush=True)
            runs[job].append(measure(job))
            if "error" in runs[job][-1]:
                print(f"  failed: {runs[job][-1]['error']}", file=sys.stderr)
    return {job: best_of(done) for job, done in runs.items()}


def best_of(runs: list[dict]) -> dict:
    """One job's rounds: the fastest, with ``round_seconds`` (every round) and the largest RSS;
    the first error if any round failed."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["round_seconds"] = [r["seconds"] for r in runs]
    for key in best:
        if key.endswith("rss_mib"):
            best[key] = max(r[key] for r in runs)
    return best
