"""What Narayanan et al. (NeurIPS 2023) ran: their models, the GPU layouts they profiled them on, and the stand-in
architectures they used where those differ from the published models (`simulator/model/paper_variants/`).

The paper profiled every model as Megatron-LM's GPT model on A100-SXM4-80GB servers of 8 GPUs, in fp16, at
batch 1. Layout sources, per model, are in PAPER_LAYOUTS; the ones the paper's text (as quoted in issue 8) or the
shipped helm-efficiency logs do not give are marked as ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from idealrt.simulator.errors import UserError
from idealrt.simulator.files import read_mapping, validated
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.model.spec import ModelSpec

VARIANTS_DIR = Path(__file__).resolve().parent.parent / "model" / "paper_variants"
MEGATRON_VOCAB_MULTIPLE = 128  # Megatron-LM's --make-vocab-size-divisible-by default, multiplied by tp

PAPER_MODELS = (
    "gpt3-175b",
    "j1-large",
    "j1-grande",
    "j1-jumbo",
    "anthropic-52b",
    "cohere-xl",
    "mt-nlg-530b",
    "gpt-j-6b",
    "yalm-100b",
    "bloom-176b",
)
PAPER_NAMES = {"gpt3-175b": "davinci", "mt-nlg-530b": "TNLG v2"}  # the paper's names, where they differ


@dataclass(frozen=True)
class PaperLayout:
    tp: int
    pp: int
    source: str

    @property
    def devices(self) -> int:
        return self.tp * self.pp


_LOGS = "helm-efficiency Megatron-LM logs (calibration/data/models/megatron-*.yaml: tp and world size as logged)"
_ISSUE = "Narayanan et al. (NeurIPS 2023) profiling setup, as quoted in idealrt issue 8"
_OURS = (
    "ASSUMED (not given by the paper text we have or the shipped logs): the fewest A100-80GB in a power of two that "
    "hold the fp16 weights, which is what the logs show for 6B and 20B (1 GPU) and 175B (8 GPUs); 52B they ran on 4"
)
PAPER_LAYOUTS: dict[str, PaperLayout] = {
    "gpt3-175b": PaperLayout(8, 1, _LOGS + " (openai_davinci: tp 8, 8 GPUs)"),
    "j1-large": PaperLayout(1, 1, _OURS),
    "j1-grande": PaperLayout(1, 1, _OURS),
    "j1-jumbo": PaperLayout(8, 1, _OURS),
    "anthropic-52b": PaperLayout(4, 1, _ISSUE + "; " + _LOGS + " (anthropic: tp 4, 4 GPUs)"),
    "cohere-xl": PaperLayout(4, 1, _ISSUE + " (as Anthropic-52B: 4 A100s at tp 4)"),
    "mt-nlg-530b": PaperLayout(8, 3, _ISSUE + " (TNLG v2: 3 pipeline stages of tp 8, 24 GPUs)"),
    "gpt-j-6b": PaperLayout(1, 1, _LOGS + " (gptj_6b: tp 1, 1 GPU)"),
    "yalm-100b": PaperLayout(4, 1, _ISSUE + " (the YaLM stand-in at tp 4)"),
    "bloom-176b": PaperLayout(8, 1, _OURS),
}


class PaperVariant(BaseModel):
    """A paper variant file: a catalog entry with the fields the paper's stand-in changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field(description="catalog id of the published model")
    source: str = Field(min_length=1)
    notes: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict)
    megatron_vocab_padding: bool = Field(
        default=False, description="pad vocab_size to a multiple of 128 × tp once the layout is known"
    )


@cache
def paper_variant(model_id: str) -> PaperVariant | None:
    """The variant file of a paper model; None when the paper ran the published architecture."""
    path = VARIANTS_DIR / f"{model_id}.yaml"
    if not path.exists():
        return None
    variant = validated(PaperVariant, read_mapping(path, "paper variant"), path)
    if variant.base != model_id:
        raise UserError(f"{path}: base '{variant.base}' is not the file's model '{model_id}'")
    return variant


def megatron_padded_vocab(vocab: int, tp: int) -> int:
    """Megatron-LM's padded embedding rows: the next multiple of 128 × tp (GPT-2's 50257 → 50304 at tp 1, 50688 at
    tp 4, 51200 at tp 8, as the helm-efficiency logs print)."""
    multiple = MEGATRON_VOCAB_MULTIPLE * tp
    return math.ceil(vocab / multiple) * multiple


def paper_architecture(model_id: str, tp: int) -> tuple[ModelSpec, str]:
    """The model as the paper ran it at this tensor-parallel degree, and where that architecture comes from."""
    published = load_model(model_id)
    variant = paper_variant(model_id)
    if variant is None:
        return published, f"published ({published.source})"
    fields = published.model_dump() | dict(variant.overrides)
    fields["notes"] = f"PAPER VARIANT: {variant.notes} Published model: {published.notes}"
    fields["source"] = f"{variant.source}; published model: {published.source}"
    if variant.megatron_vocab_padding:
        fields["vocab_size"] = megatron_padded_vocab(int(fields["vocab_size"]), tp)
    spec = validated(ModelSpec, fields, VARIANTS_DIR / f"{model_id}.yaml")
    return spec, f"paper variant ({variant.source})"
