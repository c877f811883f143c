"""Find model specs by catalog id (shipped YAML files), or by path: one of our spec files or an HF `config.json`."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

from idealrt.simulator.errors import UserError, unknown_name_error
from idealrt.simulator.files import check_path_text, is_folder, read_mapping, validated
from idealrt.simulator.model.hf_import import is_hf_config, spec_from_hf_config
from idealrt.simulator.model.spec import ModelSpec

CATALOG_DIR = Path(__file__).parent / "catalog"
HF_IDS_FILE = Path(__file__).parent / "hf_ids.yaml"
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def model_ids() -> list[str]:
    return sorted(path.stem for path in CATALOG_DIR.glob("*.yaml"))


@cache
def hf_id_to_catalog_id() -> dict[str, str]:
    """Lower-cased Hugging Face repository id → catalog id (`simulator/model/hf_ids.yaml`)."""
    table = read_mapping(HF_IDS_FILE, "Hugging Face id table")
    return {hf_id.lower(): model_id for model_id, hf_ids in table.items() for hf_id in hf_ids}


def load_model(id_or_path: str) -> ModelSpec:
    """A catalog id (`llama-3.1-70b`), a Hugging Face id of a catalog model (`meta-llama/Llama-3.1-70B`), or a
    path to a spec YAML/JSON file, to an HF-style `config.json`, or to a downloaded model folder holding one.
    An existing file or folder wins over an HF id of the same name."""
    check_path_text(id_or_path, "model")
    if id_or_path.endswith(_FILE_SUFFIXES) or "/" in id_or_path:
        path = Path(id_or_path)
        if not path.exists() and id_or_path.lower() in hf_id_to_catalog_id():
            return load_model(hf_id_to_catalog_id()[id_or_path.lower()])
        if not path.exists() and "/" in id_or_path and not id_or_path.endswith(_FILE_SUFFIXES):
            raise _unknown_hf_id(id_or_path)
        return _load_file(path / "config.json" if is_folder(path) else path)
    if id_or_path not in model_ids():
        raise unknown_name_error("model", id_or_path, model_ids())
    return _load_file(CATALOG_DIR / f"{id_or_path}.yaml")


def _unknown_hf_id(name: str) -> UserError:
    table = read_mapping(HF_IDS_FILE, "Hugging Face id table")
    as_written = {hf_id.lower(): hf_id for hf_ids in table.values() for hf_id in hf_ids}
    close = [as_written[c] for c in difflib.get_close_matches(name.lower(), list(as_written), n=1, cutoff=0.6)]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return UserError(
        f"'{name}' is neither a file nor a Hugging Face id of a catalog model (nothing is downloaded: give the path "
        f"of its config.json){hint}"
    )


@cache
def _load_file(path: Path) -> ModelSpec:
    data = read_mapping(path, "model spec (give a catalog id, or a local spec YAML/JSON or config.json path);")
    if is_hf_config(data):
        return spec_from_hf_config(data, source=str(path))
    return validated(ModelSpec, data, path)
