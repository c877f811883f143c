"""Teach jax which parts of the simulator's count structures are arrays (traced) and which are structure
(static), so a fit compiles once and passes the counts as arguments."""

from __future__ import annotations

from functools import cache

from idealrt.calibration.fit.targets import EndToEndTarget, OpTarget
from idealrt.simulator.counting import ClassGroup, OpRun, PassCounts, PieceCounts


@cache
def register() -> None:
    from jax.tree_util import register_dataclass

    register_dataclass(
        ClassGroup,
        data_fields=["counts", "peak_flops", "bandwidth", "point_to_point", "crosses_nodes"],
        meta_fields=["code", "rows", "eager_kinds"],
    )
    register_dataclass(OpRun, data_fields=["groups", "new_tokens", "context"], meta_fields=["start", "size"])
    register_dataclass(PieceCounts, data_fields=["runs", "static"], meta_fields=["name", "ops"])
    register_dataclass(
        PassCounts,
        data_fields=["prologue", "layers", "epilogue", "stage_transfer", "sequences_per_group", "tokens"],
        meta_fields=["phase", "stages", "devices_per_op", "gemm_geometry", "elementwise_cache"],
    )
    register_dataclass(
        EndToEndTarget,
        data_fields=["prefill", "decode", "decode_steps", "metric_index", "measured"],
        meta_fields=["label", "records"],
    )
    register_dataclass(
        OpTarget,
        data_fields=[
            "flops",
            "bytes_moved",
            "cache_bytes",
            "gemm_mnk",
            "new_tokens",
            "context",
            "wire_bytes",
            "group_size",
            "point_to_point",
            "crosses_nodes",
            "peak_flops",
            "bandwidth",
            "measured",
        ],
        meta_fields=["label", "kind", "records", "gemm_geometry", "eager_kinds", "elementwise_cache"],
    )
