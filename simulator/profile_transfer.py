"""Carrying a fitted profile of a software stack to hardware it was not fitted on.

A profile mixes two kinds of constants. Software constants describe the stack and carry over unchanged:
host overheads (per launch, per layer, per step), the stack's behaviours, the usable memory fraction. Hardware-bound
constants describe how the stack meets the device, and follow the datasheet:

- efficiencies are fractions of the datasheet peak or bandwidth (GEMM, attention, elementwise, collective
  bandwidth fraction): they carry as fractions, so the throughput they give rescales by the datasheet ratio;
- half-saturation sizes where a dimension's arithmetic intensity has to reach the machine balance (GEMM m½, n½, k½;
  prefill attention's s½: for a small dimension the intensity grows linearly with it) scale with the ridge point,
  peak FLOP/s ÷ HBM bytes/s, at 16-bit math;
- decode attention's context half-saturation is the KV bytes in flight needed to saturate the memory system
  (Little's law: bandwidth × latency), so it scales with the HBM bandwidth at an unchanged memory latency;
- kernel latencies and collective latencies (α) are hardware-bound too, but no datasheet figure sets them (launch
  and drain, NVLink/NCCL protocol latency): they are carried unchanged and the transfer says so.

Constants a profile gains later and that are not classified here are carried unchanged and named as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.errors import UserError
from idealrt.simulator.op_kinds import EAGER_KINDS
from idealrt.simulator.profile import Profile

Rule = Literal["ridge", "bandwidth", "fraction", "latency", "software"]

RULES: dict[str, Rule] = {
    "gemm.peak_fraction": "fraction",
    "gemm.bandwidth_fraction": "fraction",
    "gemm.m_half": "ridge",
    "gemm.n_half": "ridge",
    "gemm.k_half": "ridge",
    "gemm.kernel_latency_s": "latency",
    # The tiling model's constants are shapes of the kernels' behaviour; the target's own SMs and tile shapes (its
    # spec) enter through the geometry, so they carry over as the fractions do.
    "gemm.tile_overhead": "fraction",
    "gemm.padding_exponent": "fraction",
    "gemm.split_k_min_depth": "fraction",
    "gemm.unaligned_fraction": "fraction",
    "gemm.power_of_two_k_fraction": "fraction",
    "gemm.matrix_vector_fraction": "fraction",
    "gemm.matrix_vector_k_half": "fraction",
    "gemm.overlap_fraction": "fraction",
    "attention.prefill_peak_fraction": "fraction",
    "attention.prefill_seq_half": "ridge",
    "attention.decode_bandwidth_fraction": "fraction",
    "attention.decode_context_half": "bandwidth",
    "attention.decode_peak_fraction": "fraction",
    "attention.kernel_latency_s": "latency",
    "elementwise.bandwidth_fraction": "fraction",
    "elementwise.compute_fraction": "fraction",
    "elementwise.kernel_latency_s": "latency",
    **{f"elementwise.{kind}_extra_s": "software" for kind in EAGER_KINDS},  # the stack's eager implementation
    "collective.latency_s": "latency",
    "collective.latency_per_peer_s": "latency",
    "collective.point_to_point_latency_s": "latency",
    "collective.inter_node_latency_s": "latency",
    "collective.bandwidth_fraction": "fraction",
    "host.launch_s": "software",
    "host.per_layer_s": "software",
    "host.per_step_s": "software",
    "host.per_token_s": "software",
    "host.first_pass_per_layer_s": "software",
    "host.framework_call_s": "software",
    "host.framework_calls_per_layer": "software",
    "host.framework_calls_per_step": "software",
}
MATH_DTYPES = ("fp16", "bf16")  # the shipped profiles were fitted on 16-bit GEMMs


@dataclass(frozen=True)
class ProfileTransfer:
    """What carrying a profile from one device to another did."""

    profile: str
    source: str
    target: str
    ridge_ratio: float
    bandwidth_ratio: float
    rescaled: dict[str, tuple[float, float]] = field(default_factory=dict)  # constant → (fitted, transferred)
    carried_latencies: list[str] = field(default_factory=list)
    software: list[str] = field(default_factory=list)
    unclassified: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the extrapolation list."""
        return (
            f"hardware {self.target}: '{self.profile}' was fitted on {self.source}; hardware-bound constants rescaled "
            f"by datasheet ratios (ridge point ×{self.ridge_ratio:.3g}, HBM bandwidth ×{self.bandwidth_ratio:.3g}), "
            f"software constants kept"
        )

    def note(self) -> str:
        """The profile note: what was rescaled, what was kept."""
        rescaled = ", ".join(f"{key} {old:.3g}→{new:.3g}" for key, (old, new) in self.rescaled.items())
        parts = [
            f"transferred from {self.source} to {self.target}: efficiencies kept as fractions of {self.target}'s "
            f"datasheet; rescaled {rescaled or 'nothing'}",
            f"kept (hardware-bound, no datasheet figure): {', '.join(self.carried_latencies) or 'none'}",
            f"kept (software): {', '.join(self.software + ['behaviours', 'memory_utilization'])}",
        ]
        if self.unclassified:
            parts.append(f"kept (unclassified): {', '.join(self.unclassified)}")
        return "; ".join(parts)


def ridge_point(hardware: HardwareSpec) -> float:
    """FLOP per HBM byte at which 16-bit math turns compute-bound."""
    for dtype in MATH_DTYPES:
        peak = hardware.peak_flops_per_s(dtype)
        if peak is not None:
            return peak / hardware.hbm_bytes_per_s
    raise UserError(
        f"{hardware.id} has no 16-bit math peak ({', '.join(MATH_DTYPES)}): a profile cannot be carried to it"
    )


def transfer_profile(profile: Profile, source: HardwareSpec, target: HardwareSpec) -> tuple[Profile, ProfileTransfer]:
    """The profile's constants carried from `source` (where they were fitted) to `target`."""
    ratios = {
        "ridge": ridge_point(target) / ridge_point(source),
        "bandwidth": target.hbm_bytes_per_s / source.hbm_bytes_per_s,
    }
    transfer = ProfileTransfer(profile.name, source.id, target.id, ratios["ridge"], ratios["bandwidth"])
    updated: dict[str, float] = {}
    for key, value in profile.params().items():
        rule = RULES.get(key)
        if rule in ("ridge", "bandwidth"):
            updated[key] = value * ratios[rule]
            transfer.rescaled[key] = (value, updated[key])
        elif rule == "latency":
            transfer.carried_latencies.append(key)
        elif rule == "software":
            transfer.software.append(key)
        elif rule is None:
            transfer.unclassified.append(key)
    carried = profile.with_params(updated).model_copy(
        update={"transferred_from": source.id, "transferred_to": target.id, "transfer_summary": transfer.summary()}
    )
    return carried, transfer
