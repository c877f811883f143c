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

from calibration.records import EndToEndMeasurement, OpMeasurement, Provenance
from calibration.store import SHIPPED_DATA_DIR
from hardware_specs.schema import HardwareSpec
from simulator.counting import PassCounts, count_pass, counting_options
from simulator.deployment import Deployment, in_network_reduction_factor
from simulator.dtypes import bytes_per_element
from simulator.errors import UserError
from simulator.hardware import load_hardware
from simulator.model.catalog import load_model
from simulator.model.spec import ModelSpec
from simulator.ops.attention import causal_pairs
from simulator.pass_timing import time_pass
from simulator.profile import Behaviours
from simulator.simulation import decode_points
from simulator.structure import Phase
from simulator.timing import attention_time, collective_time, elementwise_time, gemm_time

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

    def predict(self, params: Mapping[str, Any], xp: Any = np) -> Any:
        if self.kind == "gemm":
            m, n, k = self.gemm_mnk
            return gemm_time(self.flops, self.bytes_moved, m, n, k, self.peak_flops, self.bandwidth, params, xp).total
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
            ).total
        if self.kind == "elementwise":
            return elementwise_time(self.flops, self.bytes_moved, self.peak_flops, self.bandwidth, params, xp).total
        return collective_time(
            self.wire_bytes, self.group_size, self.bandwidth, self.point_to_point, self.crosses_nodes, params, xp
        ).total


def op_targets(
    records: Sequence[OpMeasurement], provenance: Mapping[str, Provenance], data_dir: Path
) -> list[OpTarget]:
    groups: dict[tuple[str, str], list[OpMeasurement]] = defaultdict(list)
    for record in records:
        groups[(record.dataset, record.op)].append(record)
    return [
        _op_target(dataset, kind, members, dataset_hardware(provenance[dataset], data_dir))
        for (dataset, kind), members in groups.items()
    ]


def _op_target(dataset: str, kind: str, records: list[OpMeasurement], hardware: HardwareSpec) -> OpTarget:
    rows = [op_counts(record, hardware) for record in records]
    column = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in rows[0]}
    return OpTarget(
        label=f"{dataset}/{kind}",
        kind=kind,
        records=tuple(records),
        flops=column["flops"],
        bytes_moved=column["bytes"],
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
    )


def _peak(hardware: HardwareSpec, dtype: str) -> float:
    peak = hardware.peak_flops_per_s(dtype) or (hardware.peak_flops_per_s("fp16") if dtype == "bf16" else None)
    if peak is None:
        raise UserError(f"{hardware.id} has no {dtype} peak, but a measurement uses {dtype}")
    return peak


def op_counts(record: OpMeasurement, hardware: HardwareSpec) -> dict[str, float]:
    """FLOPs and bytes of one measured op by the simulator's formulas (gemm.linear, attention, collectives)."""
    element = bytes_per_element(record.dtype)
    row = {
        "flops": 0.0,
        "bytes": 0.0,
        "m": 1.0,
        "n": 1.0,
        "k": 1.0,
        "new_tokens": 1.0,
        "context": 1.0,
        "wire": 0.0,
        "group": 1.0,
        "point_to_point": 0.0,
        "crosses_nodes": 0.0,
        "peak": 1.0,
        "bandwidth": hardware.hbm_bytes_per_s,
    }
    if record.op == "gemm":
        m, n, k, groups = record.m, record.n, record.k, record.groups
        assert m is not None and n is not None and k is not None
        row |= {
            "m": m,
            "n": n,
            "k": k,
            "flops": 2.0 * groups * m * n * k,
            "bytes": groups * (k * n + m * k + m * n) * element,
            "peak": _peak(hardware, record.dtype),
        }
    elif record.op.startswith("attention"):
        batch, heads, kv_heads, dim = record.batch, record.heads, record.kv_heads, record.head_dim
        assert batch and heads and kv_heads and dim and record.context
        new = 1 if record.op == "attention_decode" else (record.new_tokens or 1)
        context = record.context
        pairs = float(causal_pairs(new, context, context)) if record.causal in (None, True) else new * context
        row |= {
            "flops": 4.0 * batch * heads * dim * pairs,
            "bytes": batch * (2 * new * heads * dim + 2 * context * kv_heads * dim) * element,
            "new_tokens": new,
            "context": context,
            "peak": _peak(hardware, record.dtype),
        }
    elif record.op == "elementwise":
        row |= {
            "flops": record.flops or 0.0,
            "bytes": record.bytes_moved or 0.0,
            "peak": hardware.peak_flops_per_s("fp32") or _peak(hardware, "bf16"),
        }
    else:
        group, payload = record.group_size or 2, record.payload_bytes or 0.0
        factor = {
            "all_reduce": 2 * (group - 1) / group,
            "all_gather": (group - 1) / group,
            "all_to_all": (group - 1) / group,
            "send_recv": 1.0,
        }[record.collective or "send_recv"]
        per_node = min(record.devices_per_node or group, hardware.devices_per_node)
        crosses = group > per_node
        if record.collective == "all_reduce" and hardware.in_network_reduction and not crosses:
            factor *= in_network_reduction_factor(group)
        link = hardware.inter_node_bytes_per_s if crosses else hardware.intra_node_bytes_per_s
        if group == 2 and not crosses and hardware.pair_link_bytes_per_s is not None:
            link = hardware.pair_link_bytes_per_s
        if link is None:
            raise UserError(f"{hardware.id}: no link bandwidth for a {group}-device collective")
        row |= {
            "wire": factor * payload,
            "group": group,
            "bandwidth": link,
            "point_to_point": float(record.collective == "send_recv"),
            "crosses_nodes": float(crosses),
        }
    return row
