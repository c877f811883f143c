"""Error statistics of predictions against measurements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ErrorSummary:
    """Errors as |predicted / measured − 1|; residuals as log(measured / predicted)."""

    n: int
    median_abs_error: float
    p90_abs_error: float
    max_abs_error: float
    log_residual_p10: float
    log_residual_p90: float

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def summarize(log_measured_over_predicted: np.ndarray) -> ErrorSummary:
    residuals = np.asarray(log_measured_over_predicted, dtype=np.float64)
    errors = np.abs(np.exp(-residuals) - 1.0)
    return ErrorSummary(
        n=int(residuals.size),
        median_abs_error=float(np.median(errors)),
        p90_abs_error=float(np.quantile(errors, 0.9)),
        max_abs_error=float(np.max(errors)),
        log_residual_p10=float(np.quantile(residuals, 0.1)),
        log_residual_p90=float(np.quantile(residuals, 0.9)),
    )
