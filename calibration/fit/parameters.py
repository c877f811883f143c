"""Which profile constants a fit may change, and the unconstrained variables the optimizer actually moves.

Fractions of peak live in (0, FRACTION_CEILING) through a scaled sigmoid; sizes and seconds are positive through
exp. The optimizer works on the unconstrained vector θ; `values(θ)` gives the profile constants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FRACTION_CEILING = (
    1.0  # no efficiency above the roofline: a faster measurement is a listed exception (test_lower_bound)
)
SMALLEST_POSITIVE = 1e-12


def is_fraction(name: str) -> bool:
    """Fractions and exponents in [0, 1] (e.g. how much GEMM tile padding costs) share the bounded encoding."""
    return name.endswith(("fraction", "exponent"))


@dataclass(frozen=True)
class FreeParameters:
    names: tuple[str, ...]

    def encode(self, values: Mapping[str, float]) -> np.ndarray:
        theta = []
        for name in self.names:
            value = float(values[name])
            if is_fraction(name):
                ratio = min(max(value / FRACTION_CEILING, 1e-6), 1 - 1e-6)
                theta.append(np.log(ratio / (1 - ratio)))
            else:
                theta.append(np.log(max(value, SMALLEST_POSITIVE)))
        return np.asarray(theta, dtype=np.float64)

    def decode(self, theta: Any, xp: Any) -> dict[str, Any]:
        values = {}
        for index, name in enumerate(self.names):
            if is_fraction(name):
                values[name] = FRACTION_CEILING / (1 + xp.exp(-theta[index]))
            else:
                values[name] = xp.exp(theta[index])
        return values


def merged(base: Mapping[str, float], free: Mapping[str, Any]) -> dict[str, Any]:
    """All profile constants: the fixed ones from `base`, the free ones from the optimizer."""
    return {**base, **free}


def select(names: Sequence[str], available: Mapping[str, float]) -> FreeParameters:
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"unknown profile constants: {', '.join(unknown)}")
    return FreeParameters(tuple(names))
