"""The compiled formulas are the sympy formulas: same numbers, generated for every catalog structure, current."""

from __future__ import annotations

import numpy as np
import pytest

from idealrt.simulator.compiled import SHIPPED_DIR, compiled_pass, formulas_hash, module_name
from idealrt.simulator.compiled.build import catalog_keys
from idealrt.simulator.compiled.fields import COUNT_FIELDS, NEUTRAL, STATIC_FIELDS
from idealrt.simulator.evaluate import evaluate
from idealrt.simulator.formula_inputs import SYMBOL_NAMES, arguments
from idealrt.simulator.graph import pass_ops
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.structure import BuildOptions, PassKey, Phase, model_structure

MODELS = ("llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "gemma-2-9b", "gpt-j-6b", "bloom-176b", "gpt2-xl")


def _random_values(rng: np.random.Generator, cases: int) -> dict[str, np.ndarray]:
    values = {name: rng.integers(1, 64, cases).astype(float) * 64 for name in SYMBOL_NAMES}
    values |= {"b": rng.integers(1, 64, cases).astype(float), "s": rng.integers(1, 4096, cases).astype(float)}
    values["c"] = values["s"] + rng.integers(0, 4096, cases)
    values |= {
        "tp": np.full(cases, 4.0),
        "ep": np.full(cases, 2.0),
        "E": np.full(cases, 64.0),
        "k": np.full(cases, 4.0),
    }
    values |= {name: rng.choice([0.5, 1.0, 2.0], cases) for name in ("w_bytes", "p_bytes", "a_bytes", "kv_bytes")}
    return values


@pytest.mark.parametrize("model_id", MODELS)
@pytest.mark.parametrize("phase", list(Phase))
def test_compiled_counts_equal_the_sympy_formulas(model_id: str, phase: Phase, rng: np.random.Generator) -> None:
    key = PassKey(
        model_structure(load_model(model_id)),
        BuildOptions(phase, tensor_parallel=True, expert_parallel=True, naive_attention=phase is Phase.PREFILL),
    )
    values = _random_values(rng, 50)
    compiled = compiled_pass(key)
    for piece, ops in pass_ops(key).items():
        counts = compiled.pieces[piece].counts(*arguments(values))
        static = compiled.pieces[piece].static(*arguments(values))
        assert [op.name for op in compiled.pieces[piece].ops] == [op.name for op in ops]
        for index, field in enumerate(COUNT_FIELDS):
            for row, op in enumerate(ops):
                expected = evaluate(op.expressions().get(field, NEUTRAL.get(field, 0.0)), values)
                got = np.broadcast_to(counts[index * len(ops) + row], expected.shape)
                np.testing.assert_array_equal(got, expected, err_msg=f"{piece}/{op.name}.{field}")
        for index, field in enumerate(STATIC_FIELDS):
            for row, op in enumerate(ops):
                expected = evaluate(op.expressions()[field], values)
                got = np.broadcast_to(static[index * len(ops) + row], expected.shape)
                np.testing.assert_array_equal(got, expected, err_msg=f"{piece}/{op.name}.{field}")


def test_every_catalog_structure_ships_compiled_with_the_current_formulas() -> None:
    """`make compiled` regenerates them; a formula edited without it fails here."""
    missing = [key for key in catalog_keys() if not (SHIPPED_DIR / f"{module_name(key)}.py").is_file()]
    assert not missing, f"{len(missing)} compiled structures missing or stale: run `make compiled`"
    for path in SHIPPED_DIR.glob("pass_*.py"):
        assert f"FORMULAS = {formulas_hash()!r}" in path.read_text(), f"{path.name} is stale: run `make compiled`"


def test_generation_is_deterministic(tmp_path_factory: pytest.TempPathFactory) -> None:
    from idealrt.simulator.compiled import write_module

    key = catalog_keys([load_model("mixtral-8x7b")])[3]
    first, second = (write_module(key, tmp_path_factory.mktemp("compiled")) for _ in range(2))
    assert first.read_text() == second.read_text()
