"""Token-length distributions for capacity planning, written as short specs on the command line.

    const:N                   every request has N tokens
    uniform:LOW:HIGH          integers LOW … HIGH inclusive, equally likely
    lognormal:MEDIAN:SIGMA    exp(N(ln MEDIAN, SIGMA²)) rounded to whole tokens: MEDIAN is the median length
                              in tokens, SIGMA the standard deviation of the natural log of the length

Deterministic by construction: a distribution is represented by its values at GRID_POINTS equally weighted
mid-quantiles (i + ½)/GRID_POINTS — a fixed quadrature, no random numbers, so results never change between runs.
Moments are means over that grid (exact for `const`, within a fraction of a token for `uniform`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from idealrt.simulator.errors import UserError, shown
from idealrt.simulator.validation import MAX_TOKENS

GRID_POINTS = 512
# σ of ln(length) of real workloads is ~0.5–1.5 (e.g. ShareGPT prompts); 8 spans 10^10 between the 1st and 99th
# percentiles, so only typos are refused. Larger σ also overflows exp() on the grid.
MAX_SIGMA = 8.0
KINDS = ("const", "uniform", "lognormal")


@dataclass(frozen=True)
class LengthDistribution:
    spec: str
    kind: str
    params: tuple[float, ...]

    def quantile(self, q: np.ndarray | float) -> np.ndarray:
        """Whole-token lengths (≥ 1) at probabilities q in (0, 1)."""
        q = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if self.kind == "const":
            values = np.full_like(q, self.params[0])
        elif self.kind == "uniform":
            low, high = self.params
            values = np.floor(low + q * (high - low + 1))
        else:
            median, sigma = self.params
            normal = NormalDist()
            values = np.rint(median * np.exp(sigma * np.array([normal.inv_cdf(float(x)) for x in q])))
        return np.maximum(values, 1.0)

    def grid(self) -> np.ndarray:
        """The GRID_POINTS equally weighted values that stand for the distribution."""
        return self.quantile((np.arange(GRID_POINTS) + 0.5) / GRID_POINTS)

    def mean(self) -> float:
        return float(np.mean(self.grid()))

    def second_moment(self) -> float:
        return float(np.mean(self.grid() ** 2))


def parse_distribution(spec: str, option: str = "distribution") -> LengthDistribution:
    """`const:512`, `uniform:128:1024` or `lognormal:MEDIAN:SIGMA`; anything else is a one-line UserError."""
    kind, _, rest = spec.strip().partition(":")
    fields = rest.split(":") if rest else []
    usage = f"{option} '{shown(spec)}': expected const:N, uniform:LOW:HIGH or lognormal:MEDIAN:SIGMA"
    if kind not in KINDS:
        raise UserError(f"{usage} (unknown kind '{shown(kind)}')")
    try:
        numbers = tuple(float(field) for field in fields)
    except ValueError:
        raise UserError(f"{usage} (not a number among {shown(str(fields))})") from None
    expected = {"const": 1, "uniform": 2, "lognormal": 2}[kind]
    if len(numbers) != expected:
        raise UserError(f"{usage} ({kind} takes {expected} number{'s' if expected > 1 else ''}, got {len(numbers)})")
    if not all(math.isfinite(n) for n in numbers):
        raise UserError(f"{usage} (numbers must be finite, got {', '.join(fields)})")
    tokens = numbers if kind in ("const", "uniform") else numbers[:1]
    if any(n > MAX_TOKENS for n in tokens):
        raise UserError(f"{usage} (token counts must be ≤ {MAX_TOKENS:,})")
    if kind in ("const", "uniform") and any(n != int(n) or n < 1 for n in numbers):
        raise UserError(f"{usage} (token counts must be whole numbers in [1, {MAX_TOKENS:,}])")
    if kind == "uniform" and numbers[0] > numbers[1]:
        raise UserError(f"{usage} (LOW {numbers[0]:g} exceeds HIGH {numbers[1]:g})")
    if kind == "lognormal" and not (numbers[0] >= 1 and 0 <= numbers[1] <= MAX_SIGMA):
        raise UserError(f"{usage} (MEDIAN must be ≥ 1 token and SIGMA in [0, {MAX_SIGMA:g}])")
    distribution = LengthDistribution(spec=spec, kind=kind, params=numbers)
    longest = float(distribution.grid().max())
    if longest > MAX_TOKENS:
        raise UserError(
            f"{usage} (its longest grid length is {longest:.3g} tokens, above the {MAX_TOKENS:,} a request may have)"
        )
    return distribution
