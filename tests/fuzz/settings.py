"""Hypothesis settings profiles: `ci` (the default: derandomized, fixed example counts, the property suite in under
a minute) and `fuzz` (10,000+ bad inputs, 2,000+ valid cases), chosen by the environment variable
HYPOTHESIS_PROFILE."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

CI, FUZZ = "ci", "fuzz"
# Examples per property test; a module's `examples(kind)` scales them by profile.
EXAMPLES = {
    CI: {"bad_arguments": 60, "bad_files": 60, "valid_cases": 25, "processes": 2},
    FUZZ: {"bad_arguments": 6000, "bad_files": 4500, "valid_cases": 2100, "processes": 40},
}
_COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "print_blob": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
}
settings.register_profile(CI, **_COMMON)
settings.register_profile(FUZZ, **_COMMON)


# Find a counterexample, do not spend minutes shrinking it: keeps the property suite within its minute.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def active_profile() -> str:
    name = os.environ.get("HYPOTHESIS_PROFILE", CI)
    if name not in EXAMPLES:
        raise SystemExit(f"HYPOTHESIS_PROFILE={name!r}: expected one of {', '.join(EXAMPLES)}")
    return name


settings.load_profile(active_profile())


SCALE = [1.0]  # tests/fuzz_report.py --scale: fewer (or more) examples for a quick look


def examples(kind: str) -> int:
    return max(1, round(EXAMPLES[active_profile()][kind] * SCALE[0]))
