"""Closed models from partial specs: every accepted architecture reproduces the given totals, sampling is
deterministic, the schema rejects specs that cannot be solved, and the shipped example runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from idealrt.simulator.cli import main
from idealrt.simulator.errors import UserError
from idealrt.simulator.parameters import parameter_counts
from idealrt.simulator.planner.closed_model import closed_model_frame, percentiles
from idealrt.simulator.planner.partial_spec import ParamCounter, PartialSpec, load_partial_spec, sample_architectures

EXAMPLE = Path(__file__).resolve().parent.parent / "simulator" / "examples" / "closed_model_gpt4_rumoured.yaml"

DENSE = {  # an 8B-class dense model known only by its total
    "id": "dense-8b",
    "name": "Dense 8B",
    "source": "test fixture",
    "assumptions": ["a test"],
    "total_params": 8.0e9,
    "num_layers": [28, 36],
    "hidden_size": [3072, 5120],
    "num_kv_heads": [4, 8],
    "ffn_ratio": [2.5, 4.0],
    "vocab_size": 128256,
    "max_context": 8192,
}


def spec(**changes: object) -> PartialSpec:
    return PartialSpec.model_validate(DENSE | changes)


@pytest.mark.parametrize(
    "changes", [{}, {"num_layers": None, "ffn_ratio": 3.5}, {"hidden_size": None, "ffn_ratio": [3.0, 3.5]}]
)
def test_every_accepted_sample_reproduces_the_total_within_2_percent(changes: dict) -> None:
    partial = spec(**changes)
    models, drawn, consistent = sample_architectures(partial, samples=4, seed=1)
    assert len(models) == 4 and drawn >= consistent >= 4
    for model in models:
        counts = parameter_counts(model)  # the engine's own count, independent of the sampler's vectorized one
        assert abs(counts.total / partial.total_params - 1) <= 0.02
        assert model.num_heads * model.attention_head_dim == model.hidden_size
        assert model.num_heads % model.kv_heads == 0 and model.num_heads % 8 == 0
        assert 2.5 <= model.ffn_dim / model.hidden_size <= 4.0


def test_moe_samples_reproduce_total_and_active_counts() -> None:
    partial = load_partial_spec(EXAMPLE)
    assert partial.active_params is not None
    for model in sample_architectures(partial, samples=2, seed=0)[0]:
        counts = parameter_counts(model)
        assert abs(counts.total / partial.total_params - 1) <= 0.02
        assert abs(counts.active / partial.active_params - 1) <= 0.02


def test_the_vectorized_count_is_the_engines_count() -> None:
    partial = spec()
    model = sample_architectures(partial, samples=1, seed=2)[0][0]
    arch = {
        "num_layers": model.num_layers,
        "hidden_size": model.hidden_size,
        "head_dim": model.attention_head_dim,
        "kv_heads": model.kv_heads,
        "ffn": model.ffn_dim,
        "vocab": model.vocab_size,
        "context": model.max_context,
        "experts": 1,
        "top_k": 1,
        "shared": 0,
    }
    total, active = ParamCounter.for_family(model).count({k: np.array([float(v)]) for k, v in arch.items()})
    assert float(total[0]) == pytest.approx(parameter_counts(model).total, rel=1e-12)
    assert float(active[0]) == pytest.approx(parameter_counts(model).active, rel=1e-12)


def test_the_same_seed_gives_identical_percentiles() -> None:
    first = percentiles(closed_model_frame(spec(), "h100-sxm", 512, 64, samples=6, seed=7, profile="ideal"))
    second = percentiles(closed_model_frame(spec(), "h100-sxm", 512, 64, samples=6, seed=7, profile="ideal"))
    assert first == second
    assert set(first) >= {"ttft_s", "tpot_s", "e2e_s", "usd_per_million_tokens"}
    other = [m.model_dump() for m in sample_architectures(spec(), samples=6, seed=8)[0]]
    assert other != [m.model_dump() for m in sample_architectures(spec(), samples=6, seed=7)[0]]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"assumptions": []}, "assumptions"),
        ({"num_layers": None, "hidden_size": None}, "both absent"),
        ({"active_params": 1e9}, "moe"),
        ({"ffn_ratio": 3.0}, "range"),
        ({"hidden_size": [5000, 4000]}, "exceeds"),
    ],
)
def test_unsolvable_specs_are_one_line_errors(tmp_path: Path, changes: dict, words: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(DENSE | changes))  # JSON is YAML
    with pytest.raises(UserError) as caught:
        load_partial_spec(path)
    assert "\n" not in str(caught.value) and words in str(caught.value)


def test_the_shipped_example_runs_and_states_its_rumours(capsys) -> None:  # type: ignore[no-untyped-def]
    partial = load_partial_spec(EXAMPLE)
    assert "rumoured" in partial.source.lower()
    assert all("rumoured" in partial.sources[name] for name in ("total_params", "active_params", "num_layers", "moe"))
    code = main(
        [
            "closed",
            "--spec",
            str(EXAMPLE),
            "--hardware",
            "h100-sxm",
            "--prompt",
            "1024",
            "--output",
            "256",
            "--samples",
            "5",
            "--profile",
            "ideal",
            "--json",
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["samples_accepted"] == 5 and record["samples_fitting"] == 5
    ttft = record["percentiles"]["ttft_s"]
    assert 0 < ttft["p10"] <= ttft["p50"] <= ttft["p90"]
    assert record["assumptions"] == partial.assumptions


def test_the_examples_readme_shows_the_command() -> None:
    readme = (EXAMPLE.parent / "README.md").read_text()
    assert "idealrt closed --spec simulator/examples/closed_model_gpt4_rumoured.yaml" in readme
