"""Measurement records: what was timed, on what, how, and by whom. Flat tables (one row per measurement) so
they round-trip through CSV; each row points at a provenance entry by `dataset`.

Two kinds:
- `OpMeasurement`: one kernel or collective (a GEMM shape, an attention call, an elementwise pass, an all-reduce).
- `EndToEndMeasurement`: one generation request (model, hardware, parallelism, batch, prompt, output → seconds).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OpKind = Literal["gemm", "attention_prefill", "attention_decode", "elementwise", "collective", "framework"]
E2EMetric = Literal["e2e", "ttft", "tpot"]
# Ids become file names (ops/<dataset>.csv, models/<model>.yaml): one name, no folders or control characters.
DATASET_ID = r"^[A-Za-z0-9][A-Za-z0-9._+\-]{0,199}$"
FILE_NAME = r"^[^\x00-\x1f\x7f]{1,1024}$"


class Provenance(BaseModel):
    """Where a dataset came from. Published data: `citation` is the URL at a commit; measured data: the command."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: str = Field(
        pattern=DATASET_ID, description="short id, e.g. 'vidur-a100-gemm' or 'measured-cpu-2026-11-29'"
    )
    citation: str
    device: str = Field(description="the device as the source names it, e.g. 'NVIDIA A100-SXM4-80GB'")
    hardware: str = Field(pattern=FILE_NAME, description="our hardware id or spec path the rows are predicted on")
    software: str = Field(default="", description="framework, library, driver versions")
    date: str = Field(default="", description="when measured (ISO date) or published")
    method: str = Field(default="", description="timing method: warm-ups, repeats, statistic, timer")
    notes: str = ""


class OpMeasurement(BaseModel):
    """One op timing. Columns not used by an op kind stay empty (None)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: str = Field(pattern=DATASET_ID)
    op: OpKind
    name: str = Field(default="", description="the source's op name, e.g. 'mlp_up_proj', 'rmsnorm', 'copy'")
    dtype: str = Field(description="math/storage format: fp16, bf16, fp8, fp32")
    # gemm: y[M, N] = x[M, K] · w[K, N], `groups` independent GEMMs of that shape (grouped / batched)
    m: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1)
    k: int | None = Field(default=None, ge=1)
    groups: int = Field(default=1, ge=1)
    # attention: `batch` sequences, `new_tokens` queries each over `context` keys (including the new ones)
    batch: int | None = Field(default=None, ge=1)
    heads: int | None = Field(default=None, ge=1)
    kv_heads: int | None = Field(default=None, ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    new_tokens: int | None = Field(default=None, ge=1)
    context: int | None = Field(default=None, ge=1)
    causal: bool | None = None
    # elementwise: bytes read + written by the kernel, and its FLOPs if any
    bytes_moved: float | None = Field(default=None, gt=0)
    flops: float | None = Field(default=None, ge=0)
    # collective
    collective: Literal["all_reduce", "all_gather", "all_to_all", "send_recv"] | None = None
    group_size: int | None = Field(default=None, ge=2)
    payload_bytes: float | None = Field(default=None, gt=0)
    devices_per_node: int | None = Field(default=None, ge=1)
    # timing, seconds
    time_s: float = Field(gt=0, description="the representative time (median where the source gives it)")
    time_s_std: float | None = Field(default=None, ge=0)
    repeats: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> OpMeasurement:
        required = {
            "gemm": ("m", "n", "k"),
            "attention_prefill": ("batch", "heads", "kv_heads", "head_dim", "new_tokens", "context", "causal"),
            "attention_decode": ("batch", "heads", "kv_heads", "head_dim", "context"),
            "elementwise": ("bytes_moved",),
            "collective": ("collective", "group_size", "payload_bytes"),
            "framework": (),  # an eager framework call (view, split, cat, …): `name` says which
        }[self.op]
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.op} measurement needs {', '.join(missing)}")
        return self


class EndToEndMeasurement(BaseModel):
    """One request: `batch` sequences of `prompt_tokens`, each generating `output_tokens`.

    `metric`: e2e = whole request (prefill + all decode steps), ttft = prefill, tpot = mean decode step.
    `model` is a catalog id or the id of a spec shipped with the dataset (calibration/data/models/).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dataset: str = Field(pattern=DATASET_ID)
    model: str = Field(pattern=DATASET_ID, description="catalog id, or the id of a spec in the dataset's models/")
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    ep: int = Field(default=1, ge=1)
    batch: int = Field(ge=1)
    prompt_tokens: int = Field(ge=1)
    output_tokens: int = Field(ge=1)
    weights_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    metric: E2EMetric = "e2e"
    time_s: float = Field(gt=0)
    time_s_std: float | None = Field(default=None, ge=0)
    repeats: int | None = Field(default=None, ge=1)
