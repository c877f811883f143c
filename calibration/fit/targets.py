"""Measurements turned into fit targets: for each, the simulator's counts (numpy, once) and a prediction
function of the profile constants (numpy or jax, many times).

End-to-end records go through the whole simulator (`count_pass` then `time_pass`); op records through the same
per-op timing functions the simulator applies to each kernel, with FLOPs and bytes from the same op formulas.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement, Provenance
from idealrt.calibration.store import SHIPPED_DATA_DIR
from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.counting import PassCounts, count_pass, counting_options
from idealrt.simulator.deployment import (
    Deployment,
    crosses_nodes,
    dtype_peak_flops,
    elementwise_cache,
    gemm_geometry,
    in_network_reduction,
    in_network_reduction_factor,
    link_bandwidth,
)
from idealrt.simulator.dtypes import bytes_per_element
from idealrt.simulator.errors import UserError
from idealrt.simulator.evaluate import evaluate
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.ops import collectives
from idealrt.simulator.ops import symbols as sym
from idealrt.simulator.ops.attention import attention
from idealrt.simulator.ops.cost import OpCost
from idealrt.simulator.ops.gemm import batched_linear
from idealrt.simulator.pass_timing import time_pass
from idealrt.simulator.profile import Behaviours
from idealrt.simulator.simulation import decode_points
from idealrt.simulator.structure import Phase
from idealrt.simulator.timing import (
    CacheLevel,
    GemmGeometry,
    attention_time,
    collective_time,
    composite_latency,
    elementwise_time,
    gemm_time,
)

METRICS = ("e2e", "ttft", "tpot")


def dataset_hardware(provenance: Provenance, data_dir: Path) -> HardwareSpec:
    """The provenance names a catalog id, or a spec file relative to its data directory (a `measure` run)."""
    local = data_dir / provenance.hardware
    if provenance.hardware.endswith((".yaml", ".yml")) and local.exists():
        return load_hardware(str(local))
    return load_hardware(provenance.hardware)


def dataset_model(model_id: str, data_dir: Path) -> ModelSpec:
    """Specs shipped with a dataset (models/<id>.yaml) first, then the catalog."""
    for directory in (data_dir / "models", SHIPPED_DATA_DIR / "models"):
        path = directory / f"{model_id}.yaml"
        if path.exists():
            return load_model(str(path))
    return load_model(model_id)


@dataclass(frozen=True)
class EndToEndTarget:
    """Records sharing one deployment, predicted together."""

    label: str
    records: tuple[EndToEndMeasurement, ...]
    prefill: PassCounts
    decode: PassCounts
    decode_steps: np.ndarray
    metric_index: np.ndarray  # 0 e2e, 1 ttft, 2 tpot
    measured: np.ndarray

    def predict(self, params: Mapping[str, Any], xp: Any = np) -> Any:
        ttft = time_pass(self.prefill, params, xp, detail=False).total
        decode = xp.sum(self.decode_steps * time_pass(self.decode, params, xp, detail=False).total, axis=-1)
        steps = xp.maximum(self.decode_steps.sum(axis=-1), 1)
        options = xp.stack([ttft + decode, ttft, decode / steps])
        return xp.take_along_axis(options, self.metric_index[None, :], axis=0)[0]


def end_to_end_targets(
    records: Sequence[EndToEndMeasurement], provenance: Mapping[str, Provenance], data_dir: Path, behaviours: Behaviours
) -> list[EndToEndTarget]:
    groups: dict[tuple, list[EndToEndMeasurement]] = defaultdict(list)
    for record in records:
        key = (record.dataset, record.model, record.tp, record.pp, record.ep, record.weights_dtype, record.kv_dtype)
        groups[key].append(record)
    targets = []
    for (dataset, model_id, tp, pp, ep, weights, kv), members in groups.items():
        deployment = Deployment(
            model=dataset_model(model_id, data_dir),
            hardware=dataset_hardware(provenance[dataset], data_dir),
            tp=tp,
            pp=pp,
            ep=ep,
            weights_dtype=weights,
            kv_dtype=kv,
        )
        batch = np.array([r.batch for r in members], dtype=np.float64)
        prompt = np.array([r.prompt_tokens for r in members], dtype=np.float64)
        output = np.array([r.output_tokens for r in members], dtype=np.float64)
        context, steps = decode_points(prompt, output, deployment.model.sliding_window)
        options = counting_options(behaviours)
        targets.append(
            EndToEndTarget(
                label=f"{dataset}/{model_id}",
                records=tuple(members),
                prefill=count_pass(deployment, Phase.PREFILL, batch, prompt, prompt, options),
                decode=count_pass(deployment, Phase.DECODE, batch[:, None], 1.0, context, options),
                decode_steps=steps,
                metric_index=np.array([METRICS.index(r.metric) for r in members]),
                measured=np.array([r.time_s for r in members], dtype=np.float64),
            )
        )
    return targets


@dataclass(frozen=True)
class OpTarget:
    """Op records of one kind on one hardware, as arrays."""

    label: str
    kind: str
    records: tuple[OpMeasurement, ...]
    flops: np.ndarray
    bytes_moved: np.ndarray
    cache_bytes: np.ndarray  # attention: the KV-cache part of bytes_moved
    gemm_mnk: tuple[np.ndarray, np.ndarray, np.ndarray]
    new_tokens: np.ndarray
    context: np.ndarray
    wire_bytes: np.ndarray
    group_size: np.ndarray
    point_to_point: np.ndarray
    crosses_nodes: np.ndarray
    peak_flops: np.ndarray
    bandwidth: np.ndarray
    measured: np.ndarray
    gemm_geometry: GemmGeometry | None = None
    eager_kinds: tuple[str | None, ...] = ()  # elementwise: each record's eager implementation
    elementwise_cache: CacheLevel | None = None

    def predict(self, params: Mapping[str, Any], xp: Any = np) -> Any:
        if self.kind == "gemm":
            m, n, k = self.gemm_mnk
            return gemm_time(
                self.flops, self.bytes_moved, m, n, k, self.peak_flops, self.bandwidth, params, xp, self.gemm_geometry
            ).total
        if self.kind.startswith("attention"):
            decode = self.kind == "attention_decode"
            return attention_time(
                self.flops,
                self.bytes_moved,
                self.new_tokens,
                self.context,
                decode,
                self.peak_flops,
                self.bandwidth,
                params,
                xp,
                cache_bytes=self.cache_bytes,
            ).total
        if self.kind == "elementwise":
            composite = composite_latency(self.eager_kinds, params, xp)
            return elementwise_time(
                self.flops,
                self.bytes_moved,
                self.peak_flops,
                self.bandwidth,
                params,
                xp,
                composite,
                self.elementwise_cache,
            ).total
        if self.kind == "framework":  # one eager framework call: the same cost whatever it does
            return params["host.framework_call_s"] + 0 * self.measured
        return collective_time(
            self.wire_bytes, self.group_size, self.bandwidth, self.point_to_point, self.crosses_nodes, params, xp
        ).total


def op_targets(
    records: Sequence[OpMeasurement], provenance: Mapping[str, Provenance], data_dir: Path
) -> list[OpTarget]:
    """One target per (dataset, op kind, dtype): records that share the hardware's peak and GEMM geometry."""
    groups: dict[tuple[str, str, str], list[OpMeasurement]] = defaultdict(list)
    for record in records:
        groups[(record.dataset, record.op, record.dtype)].append(record)
    return [
        _op_target(dataset, kind, members, dataset_hardware(provenance[dataset], data_dir))
        for (dataset, kind, _dtype), members in groups.items()
    ]


def _op_target(dataset: str, kind: str, records: list[OpMeasurement], hardware: HardwareSpec) -> OpTarget:
    column = op_columns(records, hardware)
    return OpTarget(
        label=f"{dataset}/{kind}",
        kind=kind,
        records=tuple(records),
        flops=column["flops"],
        bytes_moved=column["bytes"],
        cache_bytes=column["cache_bytes"],
        gemm_mnk=(column["m"], column["n"], column["k"]),
        new_tokens=column["new_tokens"],
        context=column["context"],
        wire_bytes=column["wire"],
        group_size=column["group"],
        point_to_point=column["point_to_point"] > 0,
        crosses_nodes=column["crosses_nodes"] > 0,
        peak_flops=column["peak"],
        bandwidth=column["bandwidth"],
        measured=np.array([r.time_s for r in records], dtype=np.float64),
        gemm_geometry=gemm_geometry(hardware, bytes_per_element(records[0].dtype)) if kind == "gemm" else None,
        eager_kinds=tuple(EAGER_KIND_OF_RECORD.get(r.name) for r in records) if kind == "elementwise" else (),
        elementwise_cache=elementwise_cache(hardware) if kind == "elementwise" else None,
    )


# The eager implementations `calibrate measure` times (calibration/harness/microbench.py), by record name: each
# as calibration/harness/model.py calls it for one graph op (rotary: Q and K).
EAGER_KIND_OF_RECORD = {
    "rmsnorm": "rmsnorm",
    "layernorm": "layernorm",
    "rotary": "rotary",
    "gelu": "gelu",
    "silu_mul": "swiglu",
}


def _peak(hardware: HardwareSpec, dtype: str) -> float:
    peak = dtype_peak_flops(hardware, dtype)
    if peak is None:
        raise UserError(f"{hardware.id} has no {dtype} peak, but a measurement uses {dtype}")
    return peak


def _column(records: Sequence[OpMeasurement], name: str, default: float = 1.0) -> np.ndarray:
    return np.array([default if getattr(r, name) is None else float(getattr(r, name)) for r in records])


def op_counts(record: OpMeasurement, hardware: HardwareSpec) -> dict[str, float]:
    """FLOPs, bytes and link of one measured op (raises UserError when the hardware cannot cost it)."""
    return {name: float(values[0]) for name, values in op_columns([record], hardware).items()}


def op_columns(records: Sequence[OpMeasurement], hardware: HardwareSpec) -> dict[str, np.ndarray]:
    """FLOPs, bytes, wire bytes and links of measured ops of one kind and dtype, by the simulator's own op
    formulas (`gemm.batched_linear`, `attention.attention`, `collectives`) with the record's dimensions bound to
    the symbols they are written in, and the simulator's peak lookup and link choice."""
    kind, dtype = records[0].op, records[0].dtype
    size = len(records)
    ones, zeros = np.ones(size), np.zeros(size)
    element = bytes_per_element(dtype)
    columns = {
        "flops": zeros,
        "bytes": zeros,
        "cache_bytes": zeros,
        "m": ones,
        "n": ones,
        "k": ones,
        "new_tokens": ones,
        "context": ones,
        "wire": zeros,
        "group": ones,
        "point_to_point": zeros,
        "crosses_nodes": zeros,
        "peak": ones,
        "bandwidth": np.full(size, hardware.hbm_bytes_per_s),
    }
    if kind == "gemm":
        m, n, k = _column(records, "m"), _column(records, "n"), _column(records, "k")
        op = batched_linear("gemm", "a measured GEMM", sym.b, sym.s, sym.f, sym.h)
        values: dict[Any, Any] = {sym.b: _column(records, "groups"), sym.s: m, sym.f: n, sym.h: k, sym.w_bytes: element}
        return (
            columns
            | _formula_counts(op, values | {sym.a_bytes: element})
            | {
                "m": m,
                "n": n,
                "k": k,
                "peak": np.full(size, _peak(hardware, dtype)),
            }
        )
    if kind.startswith("attention"):
        decode = kind == "attention_decode"
        new = ones if decode else _column(records, "new_tokens")
        context = _column(records, "context")
        causal = np.array([r.causal in (None, True) for r in records])
        values = {
            sym.b: _column(records, "batch"),
            sym.s: new,
            sym.c: context,
            sym.W: context,  # no sliding window: every key of the context
            sym.n_q: _column(records, "heads"),
            sym.n_kv: _column(records, "kv_heads"),
            sym.d_head: _column(records, "head_dim"),
            sym.a_bytes: element,
            sym.kv_bytes: element,
        }
        shape = {"heads": sym.n_q, "kv_heads": sym.n_kv, "qk_dim": sym.d_head, "v_dim": sym.d_head}
        flash = attention(
            "attention", "a measured attention call", **shape, window=sym.W, kv_element_bytes=sym.kv_bytes, naive=False
        )
        full = attention(
            "attention", "every (query, key) pair", **shape, window=sym.W, kv_element_bytes=sym.kv_bytes, naive=True
        )
        counts = _formula_counts(flash, values)
        # A non-causal call computes every pair (the naive count of FLOPs) but moves FlashAttention's bytes.
        counts["flops"] = np.where(causal, counts["flops"], evaluate(full.flops, values))
        return columns | counts | {"new_tokens": new, "context": context, "peak": np.full(size, _peak(hardware, dtype))}
    if kind == "elementwise":
        peak = dtype_peak_flops(hardware, "fp32") or _peak(hardware, "bf16")
        return columns | {
            "flops": _column(records, "flops", 0.0),
            "bytes": _column(records, "bytes_moved", 0.0),
            "peak": np.full(size, peak),
        }
    if kind == "framework":
        return columns
    rows = [_collective_link(record, hardware) for record in records]
    return columns | {
        name: np.array([row[name] for row in rows], dtype=np.float64)
        for name in ("wire", "group", "bandwidth", "point_to_point", "crosses_nodes")
    }


def _formula_counts(op: OpCost, values: Mapping[Any, Any]) -> dict[str, np.ndarray]:
    read, written = evaluate(op.bytes_read, values), evaluate(op.bytes_written, values)
    return {"flops": evaluate(op.flops, values), "bytes": read + written, "cache_bytes": np.maximum(read - written, 0)}


COLLECTIVE_OPS = {
    "all_reduce": collectives.all_reduce,
    "all_gather": collectives.all_gather,
    "all_to_all": collectives.all_to_all,
}


def _collective_link(record: OpMeasurement, hardware: HardwareSpec) -> dict[str, float]:
    """Wire bytes by the simulator's collective formula, on the link the simulator would choose for a group
    spread over servers of the record's size (the record's devices per node, at most the hardware's)."""
    group, payload = record.group_size or 2, record.payload_bytes or 0.0
    kind = record.collective or "send_recv"
    if kind == "send_recv":
        op = collectives.send_recv("send_recv", "a measured send/recv", sp.Integer(1))
    else:
        op = COLLECTIVE_OPS[kind](kind, "a measured collective", sp.Integer(1), sp.Integer(group))
    per_byte = float(op.wire_bytes)
    server = hardware.model_copy(
        update={"devices_per_node": min(record.devices_per_node or group, hardware.devices_per_node)}
    )
    if kind == "all_reduce" and in_network_reduction(server, group):
        per_byte *= in_network_reduction_factor(group)
    return {
        "wire": per_byte * payload,
        "group": float(group),
        "bandwidth": link_bandwidth(server, group),
        "point_to_point": float(kind == "send_recv"),
        "crosses_nodes": float(crosses_nodes(server, group)),
    }
