"""A deployment: a model on some accelerators with a parallelism and number formats — validated up front."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.dtypes import bytes_per_element, default_activation_dtype, weight_bytes_per_element
from idealrt.simulator.errors import UserError
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.op_kinds import MathPrecision
from idealrt.simulator.timing import CacheLevel, GemmGeometry

FLOAT_16_32 = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Deployment:
    model: ModelSpec
    hardware: HardwareSpec
    tp: int = 1
    pp: int = 1
    ep: int = 1
    weights_dtype: str = "bf16"
    act_dtype: str | None = None  # None: follows the weights (bf16 for integer weight-only formats)
    kv_dtype: str | None = None  # None: the activation dtype if 16/32-bit, else bf16

    def __post_init__(self) -> None:
        check_parallelism(self.model, self.tp, self.pp, self.ep)
        for spanned in (self.tp_span, self.ep_span, self.pp_span):
            if spanned > 1:
                self.link_bandwidth(spanned)
        for dtype in (self.weights_dtype, self.act_dtype, self.kv_dtype):
            if dtype is not None:
                bytes_per_element(dtype)
        if self.activation_dtype in ("int4",):
            raise UserError("int4 is a weight-only format; activations cannot be int4")
        for precision in MathPrecision:
            self.peak_flops(precision)

    @property
    def n_accelerators(self) -> int:
        return self.tp * self.pp * self.ep

    @property
    def tp_span(self) -> int:
        """Devices a tensor-parallel collective spans."""
        return self.tp

    @property
    def ep_span(self) -> int:
        """Devices an expert-parallel all-to-all spans (ep groups of tp devices)."""
        return self.tp * self.ep if self.ep > 1 else 1

    @property
    def pp_span(self) -> int:
        """Pipeline send/recv: on the intra-node link only when the whole pipeline fits in one node."""
        return self.n_accelerators if self.pp > 1 else 1

    @property
    def activation_dtype(self) -> str:
        """The dtype of activations and of the blocks' GEMM math (`act_dtype`, else following the weights)."""
        return self.act_dtype or default_activation_dtype(self.weights_dtype)

    @property
    def kv_cache_dtype(self) -> str:
        """The KV cache's dtype (`kv_dtype`, else the activations', bf16 when those are 8-bit)."""
        if self.kv_dtype is not None:
            return self.kv_dtype
        return self.activation_dtype if self.activation_dtype in FLOAT_16_32 else "bf16"

    @property
    def collective_dtype(self) -> str:
        """The dtype collectives move activations in: the activations' if 16/32-bit, else bf16 (fp8 GEMMs
        requantize their inputs, but the all-reduce sums partial outputs in 16 bits, as TensorRT-LLM and vLLM do)."""
        return self.activation_dtype if self.activation_dtype in FLOAT_16_32 else "bf16"

    @property
    def other_params_dtype(self) -> str:
        """Embeddings, LM head, norms, biases, router: never quantized (as AWQ/GPTQ/FP8 checkpoints keep them)."""
        if self.weights_dtype in FLOAT_16_32:
            return self.weights_dtype
        return self.activation_dtype if self.activation_dtype in FLOAT_16_32 else "bf16"

    @cached_property
    def stage_layers(self) -> list[range]:
        """Layers of each pipeline stage: an even split, earlier stages taking the remainder."""
        per_stage, extra = divmod(self.model.num_layers, self.pp)
        stages, start = [], 0
        for stage in range(self.pp):
            size = per_stage + (1 if stage < extra else 0)
            stages.append(range(start, start + size))
            start += size
        return stages

    def bindings(self) -> dict[str, float]:
        """The parallelism and number formats, by formula symbol name (`formula_inputs.SYMBOL_NAMES`)."""
        return {
            "tp": float(self.tp),
            "ep": float(self.ep),
            "w_bytes": weight_bytes_per_element(self.weights_dtype),
            "p_bytes": bytes_per_element(self.other_params_dtype),
            "a_bytes": bytes_per_element(self.activation_dtype),
            "kv_bytes": bytes_per_element(self.kv_cache_dtype),
            "a_wire": bytes_per_element(self.collective_dtype),
        }

    def peak_flops(self, precision: MathPrecision) -> float:
        """FLOP/s for math at `precision` on this hardware (dense datasheet peak)."""
        dtype = self._math_dtype(precision)
        peak = dtype_peak_flops(self.hardware, dtype)
        if peak is None and precision is MathPrecision.VECTOR:
            return self.peak_flops(MathPrecision.HIGH)  # no fp32 vector figure published (TPUs)
        if peak is None:
            have = ", ".join(self.hardware.peak_tflops)
            raise UserError(
                f"{self.hardware.id} has no {dtype} math (datasheet peaks: {have}); "
                f"choose --act-dtype (or --weights-dtype) among those"
            )
        return peak

    def gemm_geometry(self) -> GemmGeometry | None:
        """The hardware's GEMM tiling for this deployment's GEMM math dtype (None when the spec lacks it)."""
        return gemm_geometry(self.hardware, bytes_per_element(self._math_dtype(MathPrecision.COMPUTE)))

    def elementwise_cache(self) -> CacheLevel | None:
        """The cache an elementwise op streams at when its operands fit (None when the spec has no such rate)."""
        return elementwise_cache(self.hardware)

    def _math_dtype(self, precision: MathPrecision) -> str:
        if precision is MathPrecision.COMPUTE:
            return self.activation_dtype
        if precision is MathPrecision.VECTOR:
            return "fp32"
        return self.activation_dtype if self.activation_dtype in FLOAT_16_32 else "bf16"

    def crosses_nodes(self, devices_spanned: int) -> bool:
        return crosses_nodes(self.hardware, devices_spanned)

    def in_network_reduction(self, devices_spanned: int) -> bool:
        """All-reduces inside one server whose switch reduces in the network (NVLink SHARP)."""
        return in_network_reduction(self.hardware, devices_spanned)

    def link_bandwidth(self, devices_spanned: int) -> float:
        """Per-direction bytes/s of the links a collective over `devices_spanned` devices uses."""
        return link_bandwidth(self.hardware, devices_spanned)


# --- hardware-only rules (also used where there is no model: fitting single kernels and collectives) ---


def dtype_peak_flops(hardware: HardwareSpec, dtype: str) -> float | None:
    """Dense datasheet FLOP/s for math in `dtype`; bf16 falls back to the fp16 figure (same tensor rate)."""
    peak = hardware.peak_flops_per_s(dtype)
    if peak is None and dtype == "bf16":
        peak = hardware.peak_flops_per_s("fp16")
    return peak


def elementwise_cache(hardware: HardwareSpec) -> CacheLevel | None:
    resident = hardware.cache_resident_bytes
    if resident is None or hardware.cache_bandwidth_gb_s is None:
        return None
    return CacheLevel(resident_bytes=resident, bandwidth=hardware.cache_bandwidth_gb_s * 1e9)


def gemm_geometry(hardware: HardwareSpec, element_bytes: float) -> GemmGeometry | None:
    """SMs, tile shapes and alignment (in elements of `element_bytes`) from the spec, or for fp32 math a CPU's
    SIMD alignment alone; None unless the spec has all three, or the vector width. A CPU's 16-bit GEMMs are left
    out: without native 16-bit FMA (AVX2) torch converts them through another path, which on the measured machine
    paid nothing for an unaligned N (bf16 4095 × 1024 ran as fast as 4096 × 1024)."""
    if hardware.sm_count is None or hardware.gemm_tiles is None or hardware.tensor_core_alignment_bytes is None:
        if hardware.vector_alignment_bytes is None or element_bytes != 4:
            return None
        return GemmGeometry(
            processors=1, tiles=(), alignment_elements=max(1.0, hardware.vector_alignment_bytes / element_bytes)
        )
    return GemmGeometry(
        processors=hardware.sm_count,
        tiles=tuple((int(m), int(n)) for m, n in hardware.gemm_tiles),
        alignment_elements=max(1.0, hardware.tensor_core_alignment_bytes / element_bytes),
    )


def crosses_nodes(hardware: HardwareSpec, devices_spanned: int) -> bool:
    return devices_spanned > hardware.devices_per_node


def in_network_reduction(hardware: HardwareSpec, devices_spanned: int) -> bool:
    return bool(hardware.in_network_reduction) and not crosses_nodes(hardware, devices_spanned)


def link_bandwidth(hardware: HardwareSpec, devices_spanned: int) -> float:
    """Per-direction bytes/s of the links a collective over `devices_spanned` devices uses."""
    hw = hardware
    if devices_spanned == 2 and hw.pair_link_bytes_per_s is not None:
        return hw.pair_link_bytes_per_s
    if devices_spanned <= hw.devices_per_node:
        if hw.intra_node_bytes_per_s is None:
            raise UserError(f"{hw.id} has no intra-node link bandwidth in its spec; cannot cost collectives")
        return hw.intra_node_bytes_per_s
    if hw.inter_node_bytes_per_s is None:
        raise UserError(
            f"{devices_spanned} devices span more than one {hw.id} node ({hw.devices_per_node} per node) "
            f"and its spec has no inter-node bandwidth; use fewer devices per group"
        )
    return hw.inter_node_bytes_per_s


def in_network_reduction_factor(group: float) -> float:
    """Wire bytes of an all-reduce with in-network reduction (NVLink SHARP) relative to the ring: each device sends
    its payload to the switch once and receives the reduced result once, so payload instead of 2(g−1)/g·payload."""
    return 1.0 if group <= 2 else group / (2 * (group - 1))


def check_parallelism(model: ModelSpec, tp: int, pp: int, ep: int) -> None:
    """Impossible layouts are user errors, said in one line with the valid choices."""
    for name, value in (("tp", tp), ("pp", pp), ("ep", ep)):
        if value < 1:
            raise UserError(f"--{name} must be ≥ 1 (got {value})")
    heads = model.num_heads
    if heads % tp:
        valid = ", ".join(str(d) for d in range(1, heads + 1) if heads % d == 0)
        raise UserError(f"--tp {tp} does not divide {model.id}'s {heads} attention heads; valid: {valid}")
    kv = model.kv_heads
    if model.mla is None and (kv % tp if kv >= tp else tp % kv):
        raise UserError(f"--tp {tp} and {model.id}'s {kv} KV heads: one must divide the other")
    widths = {"ffn_dim": model.ffn_dim}
    if model.moe is not None:
        widths["expert_ffn_dim"] = model.moe.expert_ffn_dim
        if model.moe.shared_ffn_dim:
            widths["shared expert ffn"] = model.moe.shared_ffn_dim
    for name, width in widths.items():
        if width % tp:
            raise UserError(f"--tp {tp} does not divide {model.id}'s {name} ({width})")
    if pp > model.num_layers:
        raise UserError(f"--pp {pp} exceeds {model.id}'s {model.num_layers} layers")
    if ep > 1:
        if model.moe is None:
            raise UserError(f"--ep {ep}: {model.id} has no experts (expert parallelism needs a MoE model)")
        if model.moe.num_experts % ep:
            raise UserError(f"--ep {ep} does not divide {model.id}'s {model.moe.num_experts} experts")
