"""A profile: the constants that turn FLOPs and bytes into seconds for one hardware + software stack.

The simulator only reads profile files (JSON); `calibration/` writes them. A name resolves to a shipped file in
`calibration/profiles/<name>.json`, a path to a user's file. The `ideal` profile is the physical roofline:
datasheet peaks, zero overheads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from idealrt.simulator.errors import UserError, shown, unknown_name_error
from idealrt.simulator.files import check_path_text, read_mapping, validated

if TYPE_CHECKING:
    from idealrt.hardware_specs.schema import HardwareSpec

SCHEMA_VERSION: Literal[1] = 1
PROFILES_DIR = Path(__file__).resolve().parent.parent / "calibration" / "profiles"

_Fraction = Field(default=1.0, gt=0, le=1)  # an efficiency: a profile is never faster than `ideal`
_Seconds = Field(default=0.0, ge=0)
_Size = Field(default=0.0, ge=0)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class GemmModel(_Section):
    """time = latency + max(compute, memory) + (1 − overlap_fraction) · min(compute, memory), where compute =
    FLOPs / (peak · e) and memory = bytes / (bandwidth · bandwidth_fraction): a GPU kernel streams its operands
    while the tensor cores work (overlap_fraction 1, the default: the roofline's max), a single CPU core packing a
    weight tile and then multiplying it does part of the two one after the other.

    On hardware whose spec gives SMs and tile shapes, e = peak_fraction · tiles · alignment, where `tiles` is the
    best over those tiles (tm × tn) of 1/(1 + tile_overhead·(1/tm + 1/tn)) · K/(K + k_half) / q^padding_exponent:
    q ≥ 1 is the billed work (M and N padded to whole tiles, the tiles to whole waves over the SMs, each tile's K
    depth plus a fill of k_half; split-K cuts K into slices of at least split_k_min_depth when M·N has too few
    tiles) over the useful M·N·(K + k_half). Time is then non-decreasing in M, N and K apart from `alignment`:
    unaligned_fraction when K or N is not a multiple of the tensor-core alignment for the dtype, times
    power_of_two_k_fraction when K is a power of two (partition camping); else 1. m_half and n_half are unused
    there (the tiles are the small-M and small-N cost). Without a tiling in the spec:
    e = peak_fraction · M/(M + m_half) · N/(N + n_half) · K/(K + k_half).

    A matrix–vector product (M ≤ 1, a decode step of one sequence) runs a GEMV kernel on a CPU: it streams the
    weight once where a GEMM kernel also packs it into its tile layout, so its memory time is
    matrix_vector_fraction of the GEMM path's, and each of its N output rows ends with a reduction that costs
    about as much as streaming matrix_vector_k_half more elements of the row: memory time ×
    matrix_vector_fraction · (K + matrix_vector_k_half)/K. The defaults (1 and 0) leave M ≤ 1 on the GEMM path.
    These three are fitted only on hardware without a tiling in its spec (on GPUs, the tile model's split-K regime
    is the small-M cost, and loads overlap the math)."""

    peak_fraction: float = _Fraction
    m_half: float = _Size
    n_half: float = _Size
    k_half: float = _Size
    bandwidth_fraction: float = _Fraction
    kernel_latency_s: float = _Seconds
    tile_overhead: float = Field(default=0.0, ge=0, description="elements; smaller tiles reuse operands less")
    padding_exponent: float = Field(default=0.0, ge=0, le=1, description="how much of the padded tile work costs")
    split_k_min_depth: float = Field(default=256.0, ge=1, description="smallest K slice a split-K kernel gives an SM")
    unaligned_fraction: float = _Fraction
    power_of_two_k_fraction: float = _Fraction
    matrix_vector_fraction: float = _Fraction
    matrix_vector_k_half: float = _Size
    overlap_fraction: float = Field(default=1.0, ge=0, le=1, description="share of the shorter term hidden")


class AttentionModel(_Section):
    """Prefill: compute efficiency grows with the new tokens s as s/(s + prefill_seq_half).
    Decode: the KV-cache read streams at decode_bandwidth_fraction · c/(c + decode_context_half) of the bandwidth
    for a context of c tokens (short caches are read in short bursts); the query and output at
    decode_bandwidth_fraction. Decode time is therefore non-decreasing in the context. Decode math runs at
    decode_peak_fraction of the peak: one query row per head is vector work, not a matrix product, and where K/V
    heads are shared (GQA, MQA) a CPU's kernel is bound by it (on the measured AVX2 machine at about 9 of 59
    GFLOP/s); fitted only where the spec has no GEMM tiling (a GPU's decode attention is bandwidth-bound at every
    shape of the shipped data, which therefore cannot show the rate)."""

    prefill_peak_fraction: float = _Fraction
    prefill_seq_half: float = _Size
    decode_bandwidth_fraction: float = _Fraction
    decode_context_half: float = _Size
    decode_peak_fraction: float = _Fraction
    kernel_latency_s: float = _Seconds


class ElementwiseModel(_Section):
    """time = latency + max(FLOPs / (vector peak · compute_fraction), bytes / (bandwidth · bandwidth_fraction)):
    transcendental activations (GELU's tanh) can be compute-bound on CPUs. The bandwidth is the HBM/DRAM rate, or,
    where the hardware spec gives one, the cache's for operands that fit in half its last-level cache
    (`timing.CacheLevel`): an elementwise op reads activations the previous op has just written.

    latency = kernel_latency_s, plus <kind>_extra_s for an op whose eager implementation is a composite of
    several kernels (`op_kinds.EAGER_KINDS`). On the measured AVX2 VM (two runs on 2026-12-04) torch's RMSNorm of
    one decode row took 21–44 µs against 8–9 µs for a LayerNorm and 4 µs for a copy, and the rotary embedding of
    Q and K, two calls of a slice, negation, cat, two products and a sum each, 32–67 µs. Zero for a stack whose
    kernels are fused (the GPU profiles); each is fitted on microbenchmarks of its kind where the hardware has no
    GEMM tiling in its spec."""

    bandwidth_fraction: float = _Fraction
    compute_fraction: float = _Fraction
    kernel_latency_s: float = _Seconds
    rmsnorm_extra_s: float = _Seconds
    layernorm_extra_s: float = _Seconds
    rotary_extra_s: float = _Seconds
    gelu_extra_s: float = _Seconds
    relu_extra_s: float = _Seconds
    swiglu_extra_s: float = _Seconds
    geglu_extra_s: float = _Seconds


class CollectiveModel(_Section):
    """α–β: time = α + wire bytes / (link bandwidth · bandwidth_fraction), where α is
    latency_s + latency_per_peer_s·(g − 1) for collectives over g devices, point_to_point_latency_s for a
    send/recv, plus inter_node_latency_s when the traffic leaves the server."""

    latency_s: float = _Seconds
    latency_per_peer_s: float = _Seconds
    point_to_point_latency_s: float = _Seconds
    inter_node_latency_s: float = _Seconds
    bandwidth_fraction: float = _Fraction


class HostModel(_Section):
    """The CPU side: launching each kernel, per-layer framework code, per-step work (sampling, sync, copies).

    per_token_s is host work for each token a pass takes in, before its first launch (a prefill: every prompt
    token of every sequence; a decode step: one per sequence): tokenizing, detokenizing, Python lists of token
    ids turned into tensors and back.

    first_pass_per_layer_s is host work at the start of every layer of a request's first pass (its prefill) only:
    a stack that allocates each layer's KV cache when a request's forward first reaches that layer (Megatron-LM's
    inference_params.key_value_memory_dict) pays it once per request, not once per step.

    An eager stack also makes framework calls no op of the graph carries (views, transposes, splits, slicing into
    the KV cache, cat, argmax): framework_calls_per_layer in each layer and framework_calls_per_step once per pass,
    a property of the stack's implementation, each costing framework_call_s on the path of the thread that runs
    the kernels (eager execution on a CPU, where host and device are one thread)."""

    launch_s: float = _Seconds
    per_layer_s: float = _Seconds
    per_step_s: float = _Seconds
    per_token_s: float = _Seconds
    first_pass_per_layer_s: float = _Seconds
    framework_call_s: float = _Seconds
    framework_calls_per_layer: float = _Size
    framework_calls_per_step: float = _Size


class Behaviours(_Section):
    """What the software stack does that changes the counts themselves."""

    lm_head_all_prompt_positions: bool = Field(
        default=False, description="prefill applies the LM head to every prompt position, not only the last"
    )
    naive_attention: bool = Field(
        default=False, description="attention materializes the score matrix (pre-FlashAttention kernels)"
    )
    expert_routing: Literal["uniform", "fewest"] = Field(
        default="uniform",
        description="experts a MoE layer reads: as uniform routing expects (what the fitted profiles were fitted "
        "with), or the fewest a batch can touch (k per layer: the lower bound `ideal` charges)",
    )
    collective_dtype: str | None = Field(
        default=None,
        description="dtype collectives move activations in; None: the activations' if 16/32-bit, else bf16 "
        "(TensorRT-LLM and vLLM all-reduce fp8 models' activations in 16 bits)",
    )


class FitStatistics(_Section):
    """How well the profile reproduces data: log(predicted / measured) residuals."""

    datasets: list[str] = Field(default_factory=list)
    n_points: int = 0
    median_abs_error: float | None = Field(default=None, description="median |pred/meas − 1| on the fitted data")
    p90_abs_error: float | None = None
    held_out_median_abs_error: float | None = Field(default=None, description="on data the fit did not see")
    held_out_method: str = ""
    log_residual_p10: float = Field(default=0.0, description="10th percentile of log(measured / predicted)")
    log_residual_p90: float = Field(default=0.0, description="90th percentile of log(measured / predicted)")
    interval_source: str = Field(default="", description="which residuals the p10–p90 band comes from")
    by_group: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per dataset, op class or model: n, fitted and held-out median error"
    )


class Provenance(_Section):
    command: str = ""
    date: str = ""
    notes: str = ""


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    description: str
    kind: Literal["ideal", "fitted", "derated"] = "fitted"
    hardware: list[str] = Field(default_factory=list, description="hardware ids it was fitted on; empty: any")
    auto_for: list[str] = Field(
        default_factory=list, description="hardware ids for which `--profile auto` picks this profile"
    )
    software: str = ""
    memory_utilization: float = Field(default=1.0, gt=0, le=1, description="usable fraction of device memory")
    gemm: GemmModel = GemmModel()
    attention: AttentionModel = AttentionModel()
    elementwise: ElementwiseModel = ElementwiseModel()
    collective: CollectiveModel = CollectiveModel()
    host: HostModel = HostModel()
    behaviours: Behaviours = Behaviours()
    valid_range: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="inputs the fit saw (batch, prompt_tokens, output_tokens, params, tp...)"
    )
    fit: FitStatistics = FitStatistics()
    provenance: Provenance = Provenance()
    transferred_from: str = Field(
        default="", description="set by `resolve_profile` when carried to other hardware: the id it was fitted on"
    )
    transferred_to: str = ""
    transfer_summary: str = Field(default="", description="one line: what the transfer rescaled and kept")

    def params(self) -> dict[str, float]:
        """The numeric constants, flattened as 'section.field' (what the fitter optimizes)."""
        flat: dict[str, float] = {}
        for section in ("gemm", "attention", "elementwise", "collective", "host"):
            for key, value in getattr(self, section).model_dump().items():
                flat[f"{section}.{key}"] = float(value)
        return flat

    def with_params(self, flat: dict[str, float]) -> Profile:
        sections: dict[str, dict[str, float]] = {}
        for key, value in flat.items():
            section, field = key.split(".")
            sections.setdefault(section, {})[field] = float(value)
        updates = {name: getattr(self, name).model_copy(update=values) for name, values in sections.items()}
        return self.model_copy(update=updates)


IDEAL = Profile(
    name="ideal",
    kind="ideal",
    description="physical roofline of unfused kernels: each op at max(FLOPs / datasheet dense peak, bytes / HBM "
    "bandwidth), no overheads, no latencies, MoE layers reading the fewest experts a batch can touch; a bound per op "
    "(fusing kernels can beat the sum, down to the fused bound `estimate` prints)",
    behaviours=Behaviours(expert_routing="fewest"),
)


def shipped_profile_names() -> list[str]:
    return sorted({"ideal", *(path.stem for path in PROFILES_DIR.glob("*.json"))})


def load_profile(name_or_path: str) -> Profile:
    """`ideal`, a shipped profile name, or a path to a profile JSON file."""
    if name_or_path == "ideal":
        return IDEAL
    check_path_text(name_or_path, "profile")
    if name_or_path.endswith(".json") or "/" in name_or_path:
        return _read(Path(name_or_path))
    if name_or_path not in shipped_profile_names():
        raise unknown_name_error("profile", name_or_path, [*shipped_profile_names(), "auto"])
    return _read(PROFILES_DIR / f"{name_or_path}.json")


def resolve_profile(name_or_path: str, hardware: str | HardwareSpec) -> tuple[Profile, str]:
    """A profile and a note saying what was used. `auto`: the shipped profile made for this hardware, else the
    `derated` profile (datasheet peaks derated by documented default efficiencies). A fitted profile asked for on
    hardware it was not fitted on is carried there (`simulator.profile_transfer`: hardware-bound constants rescaled
    by datasheet ratios, software constants kept), and the note says so. `hardware`: a spec, or a catalog id."""
    hardware_id = hardware if isinstance(hardware, str) else hardware.id
    if name_or_path != "auto":
        profile = load_profile(name_or_path)
        note = f"profile '{profile.name}' ({profile.kind})"
        return _carried(profile, hardware, note)
    for name in shipped_profile_names():
        if name != "ideal":
            profile = load_profile(name)
            if hardware_id in profile.auto_for:
                return _carried(profile, hardware, f"auto: '{profile.name}', the profile fitted for {hardware_id}")
    if (PROFILES_DIR / "derated.json").exists():
        return load_profile("derated"), (
            f"auto: no profile fitted for {hardware_id}; 'derated' (datasheet peaks × default efficiencies)"
        )
    raise UserError(f"--profile auto: no profile fitted for {hardware_id} and no 'derated' profile shipped")


def needs_transfer(profile: Profile, hardware_id: str) -> bool:
    """A fitted profile used on hardware outside the ones it was fitted on (`profile_transfer` carries it)."""
    return profile.kind == "fitted" and bool(profile.hardware) and hardware_id not in profile.hardware


def _carried(profile: Profile, hardware: str | HardwareSpec, note: str) -> tuple[Profile, str]:
    hardware_id = hardware if isinstance(hardware, str) else hardware.id
    if not needs_transfer(profile, hardware_id):
        return profile, note
    from idealrt.simulator.hardware import load_hardware
    from idealrt.simulator.profile_transfer import transfer_profile

    target = load_hardware(hardware) if isinstance(hardware, str) else hardware
    carried, transfer = transfer_profile(profile, load_hardware(profile.hardware[0]), target)
    return carried, f"{note}, {transfer.note()}"


def write_profile(profile: Profile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profile.model_dump_json(indent=2) + "\n")


def _read(path: Path) -> Profile:
    data = read_mapping(path, "profile")
    if data.get("schema_version") not in (None, SCHEMA_VERSION):
        raise UserError(
            f"{path}: profile schema_version {shown(str(data.get('schema_version')))} is not {SCHEMA_VERSION}"
        )
    return validated(Profile, data, path)
