"""Fitting a profile to end-to-end measurements: the software-stack behaviours that change the counts are
chosen by which fits best, the constants by `fit_constants`; held-out error by leaving one group out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np

from idealrt.calibration.fit.optimize import FitResult, fit_constants, log_residuals
from idealrt.calibration.fit.parameters import FreeParameters
from idealrt.calibration.fit.targets import end_to_end_targets
from idealrt.calibration.records import EndToEndMeasurement, Provenance
from idealrt.simulator.profile import Behaviours

BEHAVIOUR_OPTIONS = [
    Behaviours(lm_head_all_prompt_positions=all_positions, naive_attention=naive)
    for all_positions, naive in product((False, True), (False, True))
]


@dataclass(frozen=True)
class EndToEndFit:
    behaviours: Behaviours
    result: FitResult
    loss_by_behaviours: dict[str, float]
    residuals: np.ndarray  # log(measured / predicted) on the fitted records, in `records` order
    records: list[EndToEndMeasurement]


def describe(behaviours: Behaviours) -> str:
    head = "LM head on every prompt position" if behaviours.lm_head_all_prompt_positions else "LM head on last only"
    kernel = "naive attention" if behaviours.naive_attention else "flash attention"
    return f"{head}, {kernel}"


def fit_end_to_end(
    records: Sequence[EndToEndMeasurement],
    provenance: Mapping[str, Provenance],
    data_dir: Path,
    base: Mapping[str, float],
    free: FreeParameters,
    initial: Mapping[str, float],
    behaviour_options: Sequence[Behaviours] = tuple(BEHAVIOUR_OPTIONS),
) -> EndToEndFit:
    """Fit under each candidate behaviour; keep the one with the lowest loss."""
    fits = {}
    for behaviours in behaviour_options:
        targets = end_to_end_targets(records, provenance, data_dir, behaviours)
        fitted = fit_constants(targets, base, free, initial)
        fits[behaviours] = (fitted, targets)
    best = min(fits, key=lambda b: fits[b][0].loss)
    result, targets = fits[best]
    ordered = [record for target in targets for record in target.records]
    return EndToEndFit(
        behaviours=best,
        result=result,
        loss_by_behaviours={describe(b): fits[b][0].loss for b in behaviour_options},
        residuals=log_residuals(targets, result.constants),
        records=ordered,
    )


def leave_one_group_out(
    records: Sequence[EndToEndMeasurement],
    group_of: Callable[[EndToEndMeasurement], str],
    provenance: Mapping[str, Provenance],
    data_dir: Path,
    base: Mapping[str, float],
    free: FreeParameters,
    initial: Mapping[str, float],
    behaviours: Behaviours,
) -> dict[str, np.ndarray]:
    """For each group: fit on the others, return log(measured / predicted) on the group."""
    held_out = {}
    for group in sorted({group_of(r) for r in records}):
        train = [r for r in records if group_of(r) != group]
        test = [r for r in records if group_of(r) == group]
        train_targets = end_to_end_targets(train, provenance, data_dir, behaviours)
        result = fit_constants(train_targets, base, free, initial)
        test_targets = end_to_end_targets(test, provenance, data_dir, behaviours)
        held_out[group] = log_residuals(test_targets, result.constants)
    return held_out
