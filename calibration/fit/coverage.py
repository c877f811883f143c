"""Refusing a kernel fit whose data cannot determine a constant, rather than returning its start value (or
whatever the optimizer drifted to) as if it were measured, and then extrapolating from it.

A constant is determined by the data only if the data vary along the quantity it describes:
- a saturation size x/(x + half) (gemm.m_half, n_half, k_half; attention prefill_seq_half, decode_context_half)
  needs at least two distinct values of x among the records it applies to;
and a fit needs more records than free constants. Collective constants a single-server measurement cannot
show (latency per peer from one group size, send/recv latency without send/recv records, the inter-node
latency when nothing leaves the server) are not refused but kept from the base profile, and named as such.
Before that, `constants_with_data` leaves out of a fit the constants a class's records cannot show at all (a phase
without records, tiling constants without a tiled spec, the CPU GEMM kernels' constants on a GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from idealrt.calibration.fit.kernels import CLASS_CONSTANTS
from idealrt.calibration.fit.targets import EAGER_KIND_OF_RECORD, OpTarget, dataset_hardware
from idealrt.calibration.records import OpMeasurement, Provenance
from idealrt.simulator.deployment import gemm_geometry
from idealrt.simulator.dtypes import bytes_per_element
from idealrt.simulator.errors import UserError
from idealrt.simulator.timing import GemmGeometry

# constant → (op kinds it applies to, what must vary or be present, how to read it from a target)
_SATURATION = {
    "gemm.m_half": (("gemm",), "M", lambda t: t.gemm_mnk[0]),
    "gemm.n_half": (("gemm",), "N", lambda t: t.gemm_mnk[1]),
    "gemm.k_half": (("gemm",), "K", lambda t: t.gemm_mnk[2]),
    "attention.prefill_seq_half": (("attention_prefill",), "new tokens", lambda t: t.new_tokens),
    "attention.decode_context_half": (("attention_decode",), "context", lambda t: t.context),
}


def _values(targets: Sequence[OpTarget], kinds: tuple[str, ...], read: Callable[[OpTarget], Any]) -> np.ndarray:
    chosen = [np.asarray(read(t), dtype=np.float64) for t in targets if t.kind in kinds]
    return np.concatenate(chosen) if chosen else np.zeros(0)


def coverage_problem(targets: Sequence[OpTarget], names: Sequence[str]) -> str | None:
    """Why these records cannot determine the shape constants `names` (None: they can). Collective constants
    are `unmeasured_collective_constants`' business."""
    n_records = sum(len(t.measured) for t in targets)
    if n_records <= len(names):
        return f"{n_records} records cannot determine {len(names)} constants ({', '.join(names)})"
    for name in names:
        if name in _SATURATION:
            kinds, quantity, read = _SATURATION[name]
            values = np.unique(_values(targets, kinds, read))
            if len(values) < 2:
                seen = f"only {quantity} = {values[0]:g}" if len(values) else f"no {'/'.join(kinds)} records"
                return f"{name} needs records at two or more values of {quantity}; the data have {seen}"
    return None


def unmeasured_collective_constants(targets: Sequence[OpTarget], names: Sequence[str]) -> dict[str, str]:
    """Collective constants among `names` the records say nothing about, each with the reason. A single-server
    measurement (one group size, no send/recv, nothing leaving the server) cannot show them; they are kept
    from the base profile rather than reported as fitted."""
    collectives = [t for t in targets if t.kind == "collective"]
    if not collectives:
        return {}
    p2p = np.concatenate([t.point_to_point for t in collectives])
    crosses = np.concatenate([t.crosses_nodes for t in collectives])
    groups = np.unique(np.concatenate([t.group_size for t in collectives])[~p2p])
    reasons = {
        "collective.latency_per_peer_s": (len(groups) < 2, f"collectives over one group size only ({groups})"),
        "collective.point_to_point_latency_s": (not p2p.any(), "no send/recv records"),
        "collective.inter_node_latency_s": (not crosses.any(), "no collective leaves the server"),
        "collective.latency_s": (p2p.all(), "only send/recv records"),
        "collective.bandwidth_fraction": (p2p.all(), "only send/recv records"),
    }
    return {name: reasons[name][1] for name in names if name in reasons and reasons[name][0]}


def require_coverage(targets: Sequence[OpTarget], names: Sequence[str], what: str) -> None:
    """One-line UserError when the records of `what` cannot determine the constants `names`."""
    problem = coverage_problem(targets, names)
    if problem is not None:
        raise UserError(
            f"refusing to fit {what}: {problem}; measure the missing shapes, or keep those constants from the "
            "base profile instead of fitting them"
        )


def constants_with_data(
    class_name: str, records: Sequence[OpMeasurement], provenance: Mapping[str, Provenance], data_dir: Path
) -> tuple[str, ...]:
    """Attention constants of a phase with no records stay as they are (borrowed or ideal). Without decode
    records the kernel latency stays too: the large prefill kernels cannot reveal it. GEMM tile constants need
    hardware with a tiling in its spec; the unaligned-path factor needs records whose K or N (a CPU: N) is
    unaligned."""
    names = CLASS_CONSTANTS[class_name]
    if not records:
        raise UserError(f"no {class_name} records to fit")
    if class_name == "gemm":
        geometries = {  # per dataset and dtype: a CPU has an alignment for fp32 math only
            (record.dataset, record.dtype): gemm_geometry(
                dataset_hardware(provenance[record.dataset], data_dir), bytes_per_element(record.dtype)
            )
            for record in records
        }
        tiled = _tiled(records, provenance, data_dir)
        if not tiled:
            names = tuple(n for n in names if n not in GEMM_TILING_CONSTANTS or n == "gemm.unaligned_fraction")
        if not any(_unaligned(record, geometries[record.dataset, record.dtype]) for record in records):
            names = tuple(n for n in names if n != "gemm.unaligned_fraction")
        # The matrix-vector path and the compute/memory overlap are fitted where the smooth curve is the model
        # (no tiling) and M = 1 and M > 1 were both measured.
        if tiled or {r.m <= 1 for r in records if r.m is not None} != {True, False}:
            names = tuple(n for n in names if n not in CPU_GEMM_CONSTANTS)
    if class_name == "elementwise":
        # An eager kind's fixed cost needs records of that kind on an eager stack; a GPU's kernels (the shipped ones
        # are Vidur's, under CUDA graphs) are fused.
        eager = () if _tiled(records, provenance, data_dir) else (EAGER_KIND_OF_RECORD.get(r.name) for r in records)
        timed = {f"elementwise.{kind}_extra_s" for kind in eager if kind is not None}
        names = tuple(n for n in names if not n.endswith("_extra_s") or n in timed)
    if class_name == "attention":
        kinds = {r.op for r in records}
        if "attention_decode" not in kinds:
            names = tuple(n for n in names if "decode" not in n and n != "attention.kernel_latency_s")
        if _tiled(records, provenance, data_dir):  # see AttentionModel
            names = tuple(n for n in names if n != "attention.decode_peak_fraction")
        if "attention_prefill" not in kinds:
            names = tuple(n for n in names if "prefill" not in n)
    return names


GEMM_TILING_CONSTANTS = (
    "gemm.tile_overhead",
    "gemm.padding_exponent",
    "gemm.unaligned_fraction",
    "gemm.power_of_two_k_fraction",
)

CPU_GEMM_CONSTANTS = ("gemm.matrix_vector_fraction", "gemm.matrix_vector_k_half", "gemm.overlap_fraction")


def _tiled(records: Sequence[OpMeasurement], provenance: Mapping[str, Provenance], data_dir: Path) -> bool:
    """Whether some record's hardware has a GEMM tiling in its spec (a GPU): the constants that only the smooth
    curve of a CPU needs are then left as they are."""
    hardware = (dataset_hardware(provenance[d], data_dir) for d in {r.dataset for r in records})
    return any(spec.gemm_tiles is not None for spec in hardware)


def _unaligned(record: OpMeasurement, geometry: GemmGeometry | None) -> bool:
    if geometry is None or record.n is None or record.k is None:
        return False
    step = geometry.alignment_elements
    return record.n % step != 0 or (bool(geometry.tiles) and record.k % step != 0)  # a CPU's K may be unaligned
