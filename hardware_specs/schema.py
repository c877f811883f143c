"""Schema of an accelerator spec file. Figures are stored in the units datasheets use; properties give SI units.

Every figure present must name its source in ``sources`` (field name → citation with date).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PeakDType = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4"]

# Operands up to this share of the last-level cache stay resident between the op that writes them and the next
# (the rest holds the weights streaming through): cache_bandwidth_gb_s is measured over them and applies to them.
CACHE_RESIDENT_SHARE = 0.5

# Fields that are figures (as opposed to names and notes) and therefore need a source.
SOURCED_FIELDS = (
    "memory_gb",
    "hbm_bandwidth_gb_s",
    "peak_tflops",
    "l2_mb",
    "cache_bandwidth_gb_s",
    "intra_node_bandwidth_gb_s",
    "devices_per_node",
    "pair_link_bandwidth_gb_s",
    "inter_node_bandwidth_gb_s",
    "in_network_reduction",
    "tdp_w",
    "price_usd_per_hour",
    "sm_count",
    "gemm_tiles",
    "tensor_core_alignment_bytes",
    "vector_alignment_bytes",
)


class HardwareSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    name: str
    vendor: str
    kind: Literal["gpu", "tpu", "npu", "cpu"] = "gpu"
    memory_gb: float = Field(gt=0, description="device memory, decimal GB (1e9 bytes)")
    hbm_bandwidth_gb_s: float = Field(gt=0, description="peak DRAM/HBM bandwidth, GB/s")
    peak_tflops: dict[PeakDType, float] = Field(
        description="DENSE peak per math format, TFLOP/s (TOP/s for int8); fp32 is the vector (non-tensor) rate"
    )
    l2_mb: float | None = Field(default=None, ge=0, description="last on-chip cache or SRAM, MB")
    cache_bandwidth_gb_s: float | None = Field(
        default=None,
        gt=0,
        description="streaming rate of operands that fit in half the last-level cache (l2_mb), GB/s: the rate of an "
        "elementwise op on activations the previous op has just written (measured CPUs)",
    )
    intra_node_bandwidth_gb_s: float | None = Field(
        default=None, gt=0, description="scale-up link bandwidth per device, PER DIRECTION, GB/s"
    )
    devices_per_node: int = Field(default=1, ge=1, description="devices sharing the scale-up fabric in one server")
    pair_link_bandwidth_gb_s: float | None = Field(
        default=None,
        gt=0,
        description="a faster link joining devices in pairs (NVLink bridge on PCIe cards), PER DIRECTION, GB/s: "
        "used by 2-device groups",
    )
    inter_node_bandwidth_gb_s: float | None = Field(
        default=None, gt=0, description="scale-out network bandwidth per device, PER DIRECTION, GB/s"
    )
    in_network_reduction: bool | None = Field(
        default=None,
        description="the scale-up switch reduces in the network (NVLink SHARP): an all-reduce sends and receives "
        "its payload once per device instead of the ring's 2(g-1)/g",
    )
    sm_count: int | None = Field(
        default=None, ge=1, description="streaming multiprocessors (compute units) a GEMM's output tiles spread over"
    )
    gemm_tiles: list[tuple[int, int]] | None = Field(
        default=None,
        description="output tile shapes (M × N per thread block) the architecture's tensor-core GEMM kernels choose "
        "among; a GEMM is padded to whole tiles and runs in whole waves of tiles over the SMs",
    )
    tensor_core_alignment_bytes: int | None = Field(
        default=None,
        ge=1,
        description="K and N must be multiples of this many bytes (of the math dtype) for the fast tensor-core path",
    )
    vector_alignment_bytes: int | None = Field(
        default=None,
        ge=1,
        description="a CPU's SIMD register width, from which its fp32 GEMM kernels build their N micro-tiles: N "
        "must be a multiple of this many bytes for the fast path (AVX2 32, AVX-512 64)",
    )
    tdp_w: float | None = Field(default=None, gt=0)
    price_usd_per_hour: float | None = Field(default=None, gt=0, description="on-demand price per device-hour")
    price_date: str | None = None
    sources: dict[str, str]
    notes: str = ""

    @field_validator("peak_tflops")
    @classmethod
    def _peaks_positive(cls, peaks: dict[str, float]) -> dict[str, float]:
        if not peaks:
            raise ValueError("at least one peak rate is required")
        for dtype, value in peaks.items():
            if value <= 0:
                raise ValueError(f"peak_tflops.{dtype} must be > 0")
        return peaks

    @field_validator("gemm_tiles")
    @classmethod
    def _tiles_positive(cls, tiles: list[tuple[int, int]] | None) -> list[tuple[int, int]] | None:
        if tiles is not None and (not tiles or any(m < 1 or n < 1 for m, n in tiles)):
            raise ValueError("gemm_tiles must list at least one tile of positive M × N")
        return tiles

    @model_validator(mode="after")
    def _every_figure_has_a_source(self) -> HardwareSpec:
        missing = [f for f in SOURCED_FIELDS if getattr(self, f) is not None and f not in self.sources]
        if missing:
            raise ValueError(f"figures without a source: {', '.join(missing)} (add them to 'sources')")
        if self.price_usd_per_hour is not None and not self.price_date:
            raise ValueError("price_usd_per_hour needs a price_date")
        return self

    def __hash__(self) -> int:  # the figures hold dicts; a spec is immutable, so its JSON identifies it
        return hash(self.model_dump_json())

    # --- SI-unit views used by the simulator ---
    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9

    @property
    def hbm_bytes_per_s(self) -> float:
        return self.hbm_bandwidth_gb_s * 1e9

    @property
    def cache_resident_bytes(self) -> float | None:
        """Operands up to this size (CACHE_RESIDENT_SHARE of the last-level cache) stream at cache_bandwidth_gb_s, when
        given."""
        if self.l2_mb is None or self.cache_bandwidth_gb_s is None:
            return None
        return self.l2_mb * 1e6 * CACHE_RESIDENT_SHARE

    def peak_flops_per_s(self, dtype: str) -> float | None:
        """Dense peak for math in `dtype`, FLOP/s; None when the device has no such format."""
        tflops = self.peak_tflops.get(dtype)  # type: ignore[call-overload]
        return None if tflops is None else tflops * 1e12

    @property
    def intra_node_bytes_per_s(self) -> float | None:
        return None if self.intra_node_bandwidth_gb_s is None else self.intra_node_bandwidth_gb_s * 1e9

    @property
    def pair_link_bytes_per_s(self) -> float | None:
        return None if self.pair_link_bandwidth_gb_s is None else self.pair_link_bandwidth_gb_s * 1e9

    @property
    def inter_node_bytes_per_s(self) -> float | None:
        return None if self.inter_node_bandwidth_gb_s is None else self.inter_node_bandwidth_gb_s * 1e9
