"""Find model specs by catalog id (shipped YAML files), or by path: one of our spec files or an HF `config.json`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from simulator.errors import unknown_name_error
from simulator.files import check_path_text, is_folder, read_mapping, validated
from simulator.model.hf_import import is_hf_config, spec_from_hf_config
from simulator.model.spec import ModelSpec

CATALOG_DIR = Path(__file__).parent / "catalog"
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def model_ids() -> list[str]:
    return sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))


def load_model(id_or_path: str) -> ModelSpec:
    """A catalog id (`llama-3.1-70b`), or a path to a spec YAML/JSON file, to an HF-style `config.json`, or to
    a downloaded model folder holding one."""
    check_path_text(id_or_path, "model")
    if id_or_path.endswith(_FILE_SUFFIXES) or "/" in id_or_path:
        path = Path(id_or_path)
        return _load_file(path / "config.json" if is_folder(path) else path)
    if id_or_path not in model_ids():
        raise unknown_name_error("model", id_or_path, model_ids())
    return _load_file(CATALOG_DIR / f"{id_or_path}.yaml")


@cache
def _load_file(path: Path) -> ModelSpec:
    data = read_mapping(path, "model spec (give a catalog id, or a local spec YAML/JSON or config.json path);")
    if is_hf_config(data):
        return spec_from_hf_config(data, source=str(path))
    return validated(ModelSpec, data, path)
