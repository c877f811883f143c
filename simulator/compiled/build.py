"""`make compiled`: generate the compiled formulas of every pass structure the catalog's models can run into
`simulator/compiled/generated/`, so an installed idealrt never needs sympy for a catalog model.

    python -m simulator.compiled.build          # writes the modules, removes stale ones
"""

from __future__ import annotations

from itertools import product

from idealrt.simulator.compiled import SHIPPED_DIR, module_name, write_module
from idealrt.simulator.model.catalog import load_model, model_ids
from idealrt.simulator.model.spec import ModelSpec
from idealrt.simulator.structure import BuildOptions, PassKey, Phase, model_structure


def catalog_keys(models: list[ModelSpec] | None = None) -> list[PassKey]:
    """Every pass structure of the catalog's models: both phases, with and without tensor (and, for MoE,
    expert) parallelism, naive or flash attention, the LM head on the last or every prompt position."""
    keys: dict[PassKey, None] = {}
    for spec in models if models is not None else [load_model(model_id) for model_id in model_ids()]:
        structure = model_structure(spec)
        expert_choices = (False, True) if spec.moe is not None else (False,)
        for phase, tensor, expert, naive in product(Phase, (False, True), expert_choices, (False, True)):
            for all_positions in (False, True) if phase is Phase.PREFILL else (False,):
                options = BuildOptions(phase, tensor, expert, naive, all_positions)
                keys[PassKey(structure, options)] = None
    return list(keys)


def main() -> None:
    keys = catalog_keys()
    wanted = {module_name(key) for key in keys}
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    for path in SHIPPED_DIR.glob("pass_*.py"):
        if path.stem not in wanted:
            path.unlink()
    for key in keys:
        if not (SHIPPED_DIR / f"{module_name(key)}.py").exists():
            write_module(key, SHIPPED_DIR)
    print(f"{len(keys)} compiled pass structures in {SHIPPED_DIR}")


if __name__ == "__main__":
    main()
