"""Every importer by the name of its source folder (the folder names under the shared data directory)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from idealrt.calibration.importers import ImportedDataset
from idealrt.calibration.importers.argonne import import_argonne
from idealrt.calibration.importers.deepgemm import import_deepgemm
from idealrt.calibration.importers.flash_attention import import_flash_attention
from idealrt.calibration.importers.gpt_fast import import_gpt_fast
from idealrt.calibration.importers.megatron_a100 import import_megatron_a100
from idealrt.calibration.importers.ml_engineering import import_ml_engineering
from idealrt.calibration.importers.vidur import import_vidur

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
