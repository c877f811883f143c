"""Closed models from partial specs: sample architectures consistent with published (or rumoured) totals.

A partial spec gives the parameter totals, some architecture figures as a value or a range [low, high], and the
assumptions that fill the rest. Each sample draws every ranged figure uniformly (hidden size in multiples of
head_dim, so query heads = hidden / head_dim; KV heads among the powers of two in their range; num_kv_heads
absent = MHA), then solves the one remaining dimension so the total parameter count matches `total_params`:
the dimension left absent among num_layers, hidden_size and ffn_ratio, else the MLP width (for MoE the routed
experts' width; every layer is MoE), after which a given ffn_ratio range only filters. Dimensions are rounded
(layers to whole layers, hidden to head_dim, MLP widths to FFN_MULTIPLE), the count is redone, and a sample is
accepted only when its total — and its active count, for MoE — is within `tolerance` (2 %) of the figures.

Counts come from the simulator's own op formulas (the same graphs as `parameter_counts`), evaluated for all
candidates at once. Sampling is seeded: the same spec and seed give the same samples. Running the samples on
hardware: `closed_model.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from idealrt.simulator.compiled import CompiledPiece, compiled_pass
from idealrt.simulator.compiled.fields import STATIC_FIELDS
from idealrt.simulator.files import check_path_text, read_mapping, validated
from idealrt.simulator.formula_inputs import arguments
from idealrt.simulator.model.spec import MLPKind, ModelSpec, MoEConfig, NormKind, PositionKind
from idealrt.simulator.structure import BuildOptions, LayerKind, PassKey, Phase, layer_piece, model_structure

FFN_MULTIPLE = 128
ROUND_SIZE = 4096  # candidates drawn per round
MAX_ROUNDS = 50
SOLVE_BOUNDS = {"num_layers": (1.0, 1000.0), "hidden_size": (64.0, 131072.0), "ffn": (1.0, 2.0e6)}

Count = Annotated[int, Field(ge=1)]
Ratio = Annotated[float, Field(gt=0)]
IntRange = tuple[Count, Count]
FloatRange = tuple[Ratio, Ratio]


class MoEPartial(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    num_experts: Count | IntRange = Field(description="routed experts per layer")
    top_k: Count | IntRange = Field(description="routed experts per token")
    num_shared_experts: int = Field(default=0, ge=0, description="always-on experts of the routed width")


class PartialSpec(BaseModel):
    """Each architecture figure: a value, a range [low, high], or absent (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-_]*$")
    name: str
    source: str = Field(description="where the figures come from")
    assumptions: list[str] = Field(min_length=1, description="every figure not taken from a source, and why")
    sources: dict[str, str] = Field(default_factory=dict, description="figure → citation")
    total_params: float = Field(gt=0)
    active_params: float | None = Field(default=None, gt=0, description="MoE: parameters used per token")
    num_layers: Count | IntRange | None = None
    hidden_size: Count | IntRange | None = None
    head_dim: int = Field(default=128, ge=1)
    heads_multiple: int = Field(
        default=8,
        ge=1,
        description="query heads come in multiples of this (8: every tensor-parallel degree up to 8 divides them)",
    )
    num_kv_heads: Count | IntRange | None = Field(default=None, description="absent: MHA (one KV head per query head)")
    ffn_ratio: Ratio | FloatRange | None = Field(default=None, description="MLP width / hidden (MoE: per expert)")
    mlp: MLPKind = "swiglu"
    norm: NormKind = "rmsnorm"
    position: PositionKind = "rotary"
    tied_embeddings: bool = False
    vocab_size: int = Field(ge=1)
    max_context: int = Field(ge=1)
    moe: MoEPartial | None = None
    tolerance: float = Field(default=0.02, gt=0, le=0.2)

    @model_validator(mode="after")
    def _solvable(self) -> PartialSpec:
        absent = [name for name in ("num_layers", "hidden_size", "ffn_ratio") if getattr(self, name) is None]
        if len(absent) > 1:
            raise ValueError(f"{' and '.join(absent)} are both absent; give all but one (the one solved for)")
        if not absent and not isinstance(self.ffn_ratio, tuple):
            raise ValueError(
                "with num_layers, hidden_size and ffn_ratio all given, ffn_ratio must be a range (a "
                "filter on the solved MLP width); or leave one of the three out to solve for it"
            )
        if self.active_params is not None and self.moe is None:
            raise ValueError("active_params needs a moe section (dense models use every parameter)")
        if self.active_params is not None and self.active_params > self.total_params:
            raise ValueError("active_params exceeds total_params")
        for name in ("num_layers", "hidden_size", "num_kv_heads", "ffn_ratio"):
            value = getattr(self, name)
            if isinstance(value, tuple) and value[0] > value[1]:
                raise ValueError(f"{name}: range low {value[0]} exceeds high {value[1]}")
        return self

    @property
    def solved(self) -> Literal["num_layers", "hidden_size", "ffn"]:
        if self.num_layers is None:
            return "num_layers"
        return "hidden_size" if self.hidden_size is None else "ffn"


@dataclass(frozen=True)
class ParamCounter:
    """Total and active parameters of the spec's family for arrays of architectures (all layers alike), from the
    compiled formulas of the family's structure."""

    pieces: dict[str, CompiledPiece]
    layer: str  # the name of the (one) layer piece

    @classmethod
    def for_family(cls, template: ModelSpec) -> ParamCounter:
        structure = model_structure(template)
        compiled = compiled_pass(PassKey(structure, BuildOptions(phase=Phase.PREFILL)))
        return cls(compiled.pieces, layer_piece(LayerKind(local_attention=False, moe=template.moe is not None)))

    def _sum(self, piece: str, field: str, args: list[Any]) -> np.ndarray:
        compiled = self.pieces[piece]
        n = len(compiled.ops)
        values = compiled.static(*args)[STATIC_FIELDS.index(field) * n :][:n]
        return np.sum(np.broadcast_arrays(*values), axis=0)

    def count(self, arch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        values = {
            "h": arch["hidden_size"],
            "n_q": arch["hidden_size"] / arch["head_dim"],
            "n_kv": arch["kv_heads"],
            "d_head": arch["head_dim"],
            "f": arch["ffn"],
            "V": arch["vocab"],
            "W": arch["context"],
            "n_pos": arch["context"],
            "E": arch["experts"],
            "k": arch["top_k"],
            "f_e": arch["ffn"],
            "f_sh": np.maximum(arch["shared"] * arch["ffn"], 1.0),
        }
        args = arguments(values)
        edge = self._sum("prologue", "weight_params", args) + self._sum("epilogue", "weight_params", args)
        total = self._sum(self.layer, "weight_params", args)
        active = self._sum(self.layer, "active_params", args)
        return edge + arch["num_layers"] * total, edge + arch["num_layers"] * active


def load_partial_spec(path: str | Path) -> PartialSpec:
    file = Path(check_path_text(str(path), "partial spec"))
    return validated(PartialSpec, read_mapping(file, "partial spec"), file)


def sample_architectures(spec: PartialSpec, samples: int, seed: int = 0) -> tuple[list[ModelSpec], int, int]:
    """Up to `samples` accepted architectures (in draw order), the candidates drawn, and how many of those
    were consistent with the totals (the acceptance rate is consistent / drawn)."""
    rng = np.random.default_rng(seed)
    counter = ParamCounter.for_family(_template(spec))
    accepted: list[ModelSpec] = []
    drawn = consistent = 0
    for _ in range(MAX_ROUNDS):
        arch = _solve(spec, counter, _draw(spec, rng, ROUND_SIZE))
        keep = _acceptable(spec, counter, arch)
        drawn, consistent = drawn + ROUND_SIZE, consistent + int(keep.sum())
        for index in np.flatnonzero(keep)[: samples - len(accepted)]:
            accepted.append(_model_spec(spec, {k: float(v[index]) for k, v in arch.items()}, len(accepted)))
        if len(accepted) >= samples:
            break
    return accepted, drawn, consistent


def _uniform_int(rng: np.random.Generator, value: Count | IntRange | None, size: int, step: int = 1) -> np.ndarray:
    if value is None:
        return np.full(size, np.nan)
    low, high = (value, value) if isinstance(value, int) else value
    return rng.integers(-(-low // step), high // step + 1, size).astype(np.float64) * step


def _draw(spec: PartialSpec, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    arch = {
        "num_layers": _uniform_int(rng, spec.num_layers, size),
        "hidden_size": _uniform_int(rng, spec.hidden_size, size, step=spec.head_dim * spec.heads_multiple),
        "head_dim": np.full(size, float(spec.head_dim)),
        "hidden_step": np.full(size, float(spec.head_dim * spec.heads_multiple)),
        "vocab": np.full(size, float(spec.vocab_size)),
        "context": np.full(size, float(spec.max_context)),
    }
    ratio = spec.ffn_ratio
    low, high = (ratio, ratio) if isinstance(ratio, int | float) else (ratio or (np.nan, np.nan))
    arch["ratio"] = rng.uniform(low, high, size) if spec.solved != "ffn" else np.full(size, np.nan)
    kv = spec.num_kv_heads
    if isinstance(kv, tuple):
        powers = [2.0**i for i in range(20) if kv[0] <= 2**i <= kv[1]] or [float(kv[0])]
        arch["kv_choice"] = rng.choice(np.array(powers), size)
    else:
        arch["kv_choice"] = np.full(size, np.nan if kv is None else float(kv))
    moe = spec.moe
    arch["experts"] = _uniform_int(rng, moe.num_experts, size) if moe else np.ones(size)
    arch["top_k"] = _uniform_int(rng, moe.top_k, size) if moe else np.ones(size)
    arch["shared"] = np.full(size, float(moe.num_shared_experts if moe else 0))
    return arch


def _complete(arch: dict[str, np.ndarray], solved: str, value: np.ndarray, rounded: bool) -> dict[str, np.ndarray]:
    """The architecture with the solved dimension set (MLP width from the ratio unless it is the one solved)."""
    out = dict(arch)
    if solved == "num_layers":
        out["num_layers"] = np.maximum(np.rint(value), 1.0) if rounded else value
    elif solved == "hidden_size":
        step = arch["hidden_step"]
        out["hidden_size"] = np.maximum(np.rint(value / step), 1.0) * step if rounded else value
    if solved == "ffn":
        out["ffn"] = np.maximum(np.rint(value / FFN_MULTIPLE), 1.0) * FFN_MULTIPLE if rounded else value
    else:
        width = arch["ratio"] * out["hidden_size"]
        out["ffn"] = np.maximum(np.rint(width / FFN_MULTIPLE), 1.0) * FFN_MULTIPLE if rounded else width
    heads = out["hidden_size"] / arch["head_dim"]
    out["kv_heads"] = np.where(np.isnan(arch["kv_choice"]), heads, np.minimum(arch["kv_choice"], heads))
    return out


def _solve(spec: PartialSpec, counter: ParamCounter, arch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bisection on the solved dimension (parameters grow with each of them), then rounding."""
    low, high = (np.full(len(arch["vocab"]), bound) for bound in SOLVE_BOUNDS[spec.solved])
    for _ in range(60):
        middle = (low + high) / 2
        total, _ = counter.count(_complete(arch, spec.solved, middle, rounded=False))
        under = total < spec.total_params
        low, high = np.where(under, middle, low), np.where(under, high, middle)
    return _complete(arch, spec.solved, (low + high) / 2, rounded=True)


def _acceptable(spec: PartialSpec, counter: ParamCounter, arch: dict[str, np.ndarray]) -> np.ndarray:
    total, active = counter.count(arch)
    keep = np.abs(total / spec.total_params - 1) <= spec.tolerance
    if spec.active_params is not None:
        keep &= np.abs(active / spec.active_params - 1) <= spec.tolerance
    heads = arch["hidden_size"] / arch["head_dim"]
    keep &= (heads % arch["kv_heads"] == 0) & (arch["top_k"] <= arch["experts"])
    if isinstance(spec.ffn_ratio, tuple):
        ratio = arch["ffn"] / arch["hidden_size"]
        keep &= (ratio >= spec.ffn_ratio[0]) & (ratio <= spec.ffn_ratio[1])
    return keep


def _template(spec: PartialSpec) -> ModelSpec:
    """Any member of the family: the op graphs (which ops exist) do not depend on the numbers."""
    arch = {
        "num_layers": 1,
        "hidden_size": spec.head_dim,
        "head_dim": spec.head_dim,
        "kv_heads": 1,
        "ffn": 1,
        "vocab": spec.vocab_size,
        "context": spec.max_context,
        "experts": 2,
        "top_k": 1,
        "shared": 0,
    }
    if spec.moe is not None:
        top_k = spec.moe.top_k if isinstance(spec.moe.top_k, int) else spec.moe.top_k[0]
        arch |= {"experts": max(2, top_k), "top_k": top_k, "shared": spec.moe.num_shared_experts}
    return _model_spec(spec, {k: float(v) for k, v in arch.items()}, 0)


def _model_spec(spec: PartialSpec, arch: dict[str, float], index: int) -> ModelSpec:
    moe = None
    if spec.moe is not None:
        moe = MoEConfig(
            num_experts=int(arch["experts"]),
            top_k=int(arch["top_k"]),
            expert_ffn_dim=int(arch["ffn"]),
            num_shared_experts=int(arch["shared"]),
        )
    return ModelSpec(
        id=f"{spec.id}-sample-{index}",
        name=f"{spec.name} (sample {index})",
        source=spec.source,
        published_params=spec.total_params,
        published_active_params=spec.active_params,
        num_layers=int(arch["num_layers"]),
        hidden_size=int(arch["hidden_size"]),
        num_heads=int(arch["hidden_size"] // arch["head_dim"]),
        num_kv_heads=int(arch["kv_heads"]),
        head_dim=int(arch["head_dim"]),
        ffn_dim=int(arch["ffn"]),
        mlp=spec.mlp,
        norm=spec.norm,
        position=spec.position,
        vocab_size=int(arch["vocab"]),
        max_context=int(arch["context"]),
        tied_embeddings=spec.tied_embeddings,
        moe=moe,
    )
