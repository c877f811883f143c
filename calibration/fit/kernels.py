"""Fitting a profile's per-op-class constants to kernel-level measurements, and their held-out error.

Each op class has its own constants and its own data, so each is fitted separately. Held-out error: records are
split into FOLDS groups by shape family (a GEMM's (N, K); an attention call's heads and head size and batch; a
collective's group size), each group is predicted by a fit on the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idealrt.calibration.fit.optimize import fit_constants, log_residuals
from idealrt.calibration.fit.parameters import FreeParameters, select
from idealrt.calibration.fit.targets import OpTarget, op_targets
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.op_kinds import EAGER_KINDS

FOLDS = 5

CLASS_CONSTANTS: dict[str, tuple[str, ...]] = {
    "gemm": (
        "gemm.peak_fraction",
        "gemm.m_half",
        "gemm.n_half",
        "gemm.k_half",
        "gemm.bandwidth_fraction",
        "gemm.kernel_latency_s",
        "gemm.tile_overhead",
        "gemm.padding_exponent",
        "gemm.unaligned_fraction",
        "gemm.power_of_two_k_fraction",
        "gemm.matrix_vector_fraction",
        "gemm.matrix_vector_k_half",
        "gemm.overlap_fraction",
    ),
    "attention": (
        "attention.prefill_peak_fraction",
        "attention.prefill_seq_half",
        "attention.decode_bandwidth_fraction",
        "attention.decode_context_half",
        "attention.decode_peak_fraction",
        "attention.kernel_latency_s",
    ),
    "elementwise": (
        "elementwise.bandwidth_fraction",
        "elementwise.compute_fraction",
        "elementwise.kernel_latency_s",
        *(f"elementwise.{kind}_extra_s" for kind in EAGER_KINDS),
    ),
    "collective": (
        "collective.latency_s",
        "collective.latency_per_peer_s",
        "collective.point_to_point_latency_s",
        "collective.inter_node_latency_s",
        "collective.bandwidth_fraction",
    ),
    "framework": ("host.framework_call_s",),
}

# Where the optimizer starts: mid-range values, so that no constant starts where its gradient vanishes.
INITIAL = {
    "gemm.peak_fraction": 0.9,
    "gemm.m_half": 64.0,
    "gemm.n_half": 8.0,
    "gemm.k_half": 8.0,
    "gemm.bandwidth_fraction": 0.8,
    "gemm.kernel_latency_s": 5e-6,
    "gemm.tile_overhead": 16.0,
    "gemm.padding_exponent": 0.2,
    "gemm.power_of_two_k_fraction": 0.9,
    "gemm.unaligned_fraction": 0.5,
    "gemm.matrix_vector_fraction": 0.6,
    "gemm.matrix_vector_k_half": 256.0,
    "gemm.overlap_fraction": 0.5,
    "attention.prefill_peak_fraction": 0.5,
    "attention.prefill_seq_half": 128.0,
    "attention.decode_bandwidth_fraction": 0.6,
    "attention.decode_peak_fraction": 0.1,  # low enough to bind: from above, max() hides it from the gradient
    "attention.decode_context_half": 64.0,
    "attention.kernel_latency_s": 5e-6,
    "elementwise.bandwidth_fraction": 0.7,
    "elementwise.compute_fraction": 1.0,
    **{f"elementwise.{kind}_extra_s": 1e-5 for kind in EAGER_KINDS},
    "elementwise.kernel_latency_s": 3e-6,
    "collective.latency_s": 2e-5,
    "collective.latency_per_peer_s": 2e-6,
    "collective.point_to_point_latency_s": 1e-5,
    "collective.inter_node_latency_s": 1e-5,
    "collective.bandwidth_fraction": 0.7,
    "host.framework_call_s": 5e-6,
}


# Constants whose loss surface has separate basins (a max() picks one term): fit from each start, keep the best.
# Vector-op compute efficiency: GPUs never bind on it (basin near 1), CPUs do for tanh/exp (basin near 0.05).
ALTERNATIVE_STARTS = {"elementwise.compute_fraction": (0.05, 1.0)}


def op_class(record: OpMeasurement) -> str:
    return "attention" if record.op.startswith("attention") else record.op


def shape_family(record: OpMeasurement) -> tuple:
    """Records that share a family are held out together (same weights / same model layer / same group)."""
    if record.op == "gemm":
        return (record.n, record.k)
    if record.op.startswith("attention"):
        return (record.heads, record.kv_heads, record.head_dim, record.batch)
    if record.op == "elementwise":
        return (record.name, round(np.log2(record.bytes_moved or 1.0)))
    if record.op == "framework":
        return (record.name,)
    return (record.collective, record.group_size)


def fold_of(record: OpMeasurement) -> int:
    """A deterministic fold: the family's stable hash, not Python's salted one."""
    text = repr(shape_family(record)).encode()
    return int(np.frombuffer(text, dtype=np.uint8).astype(np.int64) @ (31 ** np.arange(len(text)) % 1_000_003)) % FOLDS


def _best_start(
    targets: Sequence[OpTarget], base: Mapping[str, float], free: FreeParameters, initial: dict[str, float]
) -> dict[str, float]:
    """The starting point (among ALTERNATIVE_STARTS) whose fit reaches the lowest loss."""
    starts = [initial]
    for name, values in ALTERNATIVE_STARTS.items():
        if name in free.names:
            starts = [start | {name: value} for start in starts for value in values]
    if len(starts) == 1:
        return initial
    return min(starts, key=lambda start: fit_constants(targets, base, free, start).loss)


@dataclass(frozen=True)
class ClassFit:
    op_class: str
    constants: dict[str, float]
    datasets: list[str]
    fitted_residuals: np.ndarray  # log(measured / predicted), fit on everything
    held_out_residuals: np.ndarray  # log(measured / predicted), each fold predicted by a fit on the others
    records: list[OpMeasurement]


def fit_op_class(
    records: Sequence[OpMeasurement],
    provenance: Mapping[str, Provenance],
    data_dir: Path,
    base: Mapping[str, float],
    op_class_name: str,
    names: Sequence[str] | None = None,
) -> ClassFit:
    """Fit the constants `names` (default: all of the class's) to the records of one op class."""
    names = tuple(names or CLASS_CONSTANTS[op_class_name])
    free = select(names, base)
    initial = {name: INITIAL[name] for name in names}
    targets = op_targets(records, provenance, data_dir)
    initial = _best_start(targets, base, free, initial)
    fitted = fit_constants(targets, base, free, initial)
    ordered = [record for target in targets for record in target.records]
    held_out = np.empty(len(ordered))
    folds = np.array([fold_of(record) for record in ordered])
    for fold in sorted(set(folds)):
        train = [r for r, f in zip(ordered, folds, strict=True) if f != fold]
        test = [r for r, f in zip(ordered, folds, strict=True) if f == fold]
        if not train:
            continue
        constants = fit_constants(op_targets(train, provenance, data_dir), base, free, initial).constants
        held_out[folds == fold] = log_residuals(op_targets(test, provenance, data_dir), constants)
    return ClassFit(
        op_class=op_class_name,
        constants={name: fitted.constants[name] for name in names},
        datasets=sorted({r.dataset for r in ordered}),
        fitted_residuals=log_residuals(targets, fitted.constants),
        held_out_residuals=held_out,
        records=ordered,
    )
