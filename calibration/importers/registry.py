"""Every importer by the name of its source folder (the folder names under the shared data directory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from calibration.importers import ImportedDataset
from calibration.importers.argonne import import_argonne
from calibration.importers.deepgemm import import_deepgemm
from calibration.importers.flash_attention import import_flash_attention
from calibration.importers.gpt_fast import import_gpt_fast
from calibration.importers.megatron_a100 import import_megatron_a100
from calibration.importers.ml_engineering import import_ml_engineering
from calibration.importers.vidur import import_vidur

Importer = Callable[[Path], ImportedDataset]

IMPORTERS: dict[str, Importer] = {
    "vidur": import_vidur,
    "flash_attention": import_flash_attention,
    "deepgemm": import_deepgemm,
    "ml_engineering": import_ml_engineering,
    "gpt_fast": import_gpt_fast,
    "megatron_a100": import_megatron_a100,
    "argonne_llm_inference_bench": import_argonne,
}
