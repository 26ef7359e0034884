"""Hypothesis settings of the fuzz tests (``tests/test_fuzz_*.py``).

CI runs a bounded number of examples per property (profile ``ci``); ``pytest -m slow`` runs
them with the ``slow`` profile (10x the examples, not derandomised; ``tests/conftest.py``), as
does ``SYNAPTICA_FUZZ=slow`` with any selection, e.g.
``pytest -m slow tests/test_fuzz_*.py --hypothesis-show-statistics``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("slow", parent=settings.get_profile("ci"), derandomize=False)
PROFILE = os.environ.get("SYNAPTICA_FUZZ", "ci")
if PROFILE not in ("ci", "slow"):
    raise ValueError(f"SYNAPTICA_FUZZ={PROFILE!r}: choose ci or slow")
settings.load_profile(PROFILE)


def examples(ci: int) -> settings:
    """Settings running ``ci`` examples in CI and ten times as many under the slow profile."""
    return settings(max_examples=ci * (10 if PROFILE == "slow" else 1))
