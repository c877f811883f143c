"""How each shipped profile is made: which data, which constants are free, and how its error is measured.

- Kernel profiles (`a100-sxm-80gb-kernels`, `h100-sxm-kernels`): per op class from kernel-level measurements of
  a vLLM-like optimized stack; host overheads are not measurable from kernels and are zero (CUDA graphs).
- `megatron-a100-2022`: the paper's reference stack, fitted end to end on its own generation timings.
- `derated`: no fit; datasheet peaks derated by the kernel profiles' efficiencies and the cross-vendor MAMF table.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idealrt.calibration.fit.coverage import constants_with_data, require_coverage, unmeasured_collective_constants
from idealrt.calibration.fit.endtoend import EndToEndFit, describe, fit_end_to_end, leave_one_group_out
from idealrt.calibration.fit.kernels import ClassFit, fit_op_class, op_class
from idealrt.calibration.fit.parameters import select
from idealrt.calibration.fit.statistics import summarize
from idealrt.calibration.fit.targets import dataset_hardware, op_targets
from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement
from idealrt.calibration.store import (
    SHIPPED_DATA_DIR,
    provenance_of,
    read_e2e_records,
    read_op_records,
    read_provenance,
)
from idealrt.simulator.errors import UserError
from idealrt.simulator.profile import IDEAL, Behaviours, FitStatistics, Profile, Provenance

if TYPE_CHECKING:
    from idealrt.calibration.harness.framework import FrameworkCalls

VLLM_MEMORY_UTILIZATION = 0.9  # vLLM EngineArgs default gpu_memory_utilization (docs.vllm.ai, engine arguments)


@dataclass(frozen=True)
class KernelData:
    """Datasets per op class; `keep` filters records (e.g. one attention implementation)."""

    datasets: dict[str, tuple[str, ...]]
    keep: Callable[[OpMeasurement], bool] = lambda record: True
    never_fitted: tuple[str, ...] = ()  # op datasets of this hardware predicted by the fitted profile (validation)


KERNEL_DATA = {
    "a100-sxm-80gb": KernelData(
        {
            "gemm": ("vidur-a100-gemm", "mleng-mamf-a100-sxm-80gb"),
            "attention": ("vidur-a100-attention",),
            "elementwise": ("vidur-a100-elementwise",),
            "collective": ("vidur-a100-dgx-collectives", "mleng-allreduce-a100"),
        }
    ),
    "h100-sxm": KernelData(
        {
            # DeepGEMM's fp8 kernels are another library and format: predicted, not fitted (validate shows it).
            "gemm": ("vidur-h100-gemm", "mleng-mamf-h100-sxm"),
            "attention": ("flash-attention-h100-fwd",),
            "elementwise": ("vidur-h100-elementwise",),
            "collective": ("vidur-h100-dgx-collectives",),
        },
        # FlashAttention-2, the kernel of the vLLM-era stack the other H100 data comes from (FA3 is validation).
        keep=lambda record: record.dataset != "flash-attention-h100-fwd" or "FlashAttention-2" in record.name,
        never_fitted=("deepgemm-h800-fp8",),
    ),
}


def _today() -> str:
    return datetime.date.today().isoformat()


def _group_stats(label: str, fitted: np.ndarray, held_out: np.ndarray) -> tuple[str, dict[str, float]]:
    return label, {
        "n": float(len(fitted)),
        "fitted_median_abs_error": summarize(fitted).median_abs_error,
        "held_out_median_abs_error": summarize(held_out).median_abs_error,
        "held_out_p90_abs_error": summarize(held_out).p90_abs_error,
    }


def kernel_profile(
    hardware: str,
    data_dir: Path = SHIPPED_DATA_DIR,
    base: Profile = IDEAL,
    borrowed: dict[str, float] | None = None,
    command: str = "",
    plan: KernelData | None = None,
    name: str | None = None,
    software: str | None = None,
) -> tuple[Profile, list[ClassFit]]:
    """Fit every op class that has data; constants of classes (or phases) without data come from `borrowed`."""
    if plan is None:
        if hardware not in KERNEL_DATA:
            raise UserError(f"no kernel datasets registered for {hardware}; known: {', '.join(KERNEL_DATA)}")
        plan = KERNEL_DATA[hardware]
    provenance = read_provenance(data_dir)
    records = [r for r in read_op_records(data_dir) if plan.keep(r)]
    constants = dict(base.params()) | (borrowed or {})
    fits = []
    unmeasured: dict[str, str] = {}
    for class_name, datasets in plan.datasets.items():
        chosen = [r for r in records if r.dataset in datasets and op_class(r) == class_name]
        names = constants_with_data(class_name, chosen, provenance, data_dir)
        targets = op_targets(chosen, provenance, data_dir)
        require_coverage(targets, names, f"the {class_name} constants of {hardware}")
        missing = unmeasured_collective_constants(targets, names)
        unmeasured |= missing
        names = tuple(name for name in names if name not in missing)
        if not names:
            raise UserError(f"refusing to fit the {class_name} constants of {hardware}: the data determine none")
        fit = fit_op_class(chosen, provenance, data_dir, constants, class_name, names)
        constants |= fit.constants
        fits.append(fit)
    fitted = np.concatenate([f.fitted_residuals for f in fits])
    held_out = np.concatenate([f.held_out_residuals for f in fits])
    groups = dict(_group_stats(f.op_class, f.fitted_residuals, f.held_out_residuals) for f in fits)
    for fit in fits:
        for dataset in fit.datasets:
            mask = np.array([r.dataset == dataset for r in fit.records])
            groups.update([_group_stats(dataset, fit.fitted_residuals[mask], fit.held_out_residuals[mask])])
    summary, held = summarize(fitted), summarize(held_out)
    profile = base.with_params(constants).model_copy(
        update={
            "name": name or f"{hardware}-kernels",
            "description": f"optimized kernels (vLLM-like stack) on {hardware}, fitted per op class on kernel timings; "
            "host overheads not fitted (zero: CUDA graphs)",
            "kind": "fitted",
            # a calibrated profile charges the experts uniform routing expects, not ideal's fewest
            "behaviours": base.behaviours.model_copy(update={"expert_routing": "uniform"}),
            "hardware": [hardware],
            "auto_for": [hardware],
            "software": software
            or "kernels as measured by the datasets (vLLM/sarathi fp16 kernels, FlashAttention, cuBLAS, NCCL)",
            "memory_utilization": VLLM_MEMORY_UTILIZATION if plan is KERNEL_DATA.get(hardware) else 1.0,
            "valid_range": {"tp": (1.0, 8.0), "prefill_tokens": (1.0, 16384.0)},
            "fit": FitStatistics(
                datasets=sorted({d for f in fits for d in f.datasets}),
                n_points=summary.n,
                median_abs_error=summary.median_abs_error,
                p90_abs_error=summary.p90_abs_error,
                held_out_median_abs_error=held.median_abs_error,
                held_out_method=f"per op class, {5}-fold by shape family (GEMM (N, K); attention heads/batch; "
                "collective kind/group)",
                log_residual_p10=held.log_residual_p10,
                log_residual_p90=held.log_residual_p90,
                interval_source="kernel-level held-out residuals (all op classes pooled)",
                by_group=groups,
            ),
            "provenance": Provenance(
                command=command,
                date=_today(),
                notes="; ".join(
                    note
                    for note in (
                        _borrowed_note(borrowed) if borrowed else "",
                        _unmeasured_note(unmeasured, base.name),
                    )
                    if note
                ),
            ),
        }
    )
    return profile, fits


def measured_kernel_profile(data_dir: Path, command: str = "") -> tuple[Profile, list[ClassFit]]:
    """A profile from a `calibrate measure` directory's op records alone (its end-to-end records stay unseen)."""
    provenance = read_provenance(data_dir)
    records = read_op_records(data_dir)
    if not records:
        raise UserError(f"{data_dir}: no op measurements to fit (run `idealrt calibrate measure` first)")
    datasets: dict[str, tuple[str, ...]] = {}
    for record in records:
        datasets[op_class(record)] = tuple(sorted({*datasets.get(op_class(record), ()), record.dataset}))
    for dataset in sorted({record.dataset for record in records}):
        provenance_of(provenance, dataset, data_dir)
    hardware = dataset_hardware(provenance[records[0].dataset], data_dir)
    software = "; ".join(sorted({provenance[d].software for group in datasets.values() for d in group}))
    profile, fits = kernel_profile(
        hardware.id,
        data_dir,
        plan=KernelData(datasets),
        command=command,
        name=f"{hardware.id}-measured",
        software=software,
    )
    # On a CPU, host and device are the same thread: per-op overheads are in the kernel latencies already; an
    # eager stack's framework calls (measured per call) are charged per layer and per step as its
    # implementation makes them.
    update: dict[str, object] = {"description": f"fitted on microbenchmarks measured in {data_dir}"}
    if "framework" in datasets:
        calls = eager_framework_calls()
        update["host"] = profile.host.model_copy(
            update={"framework_calls_per_layer": calls.per_layer, "framework_calls_per_step": calls.per_step}
        )
        update["software"] = f"{software}; eager: {calls.per_layer:g} framework calls per layer, " + (
            f"{calls.per_step:g} per step (calibration/harness/model.py)"
        )
    return profile.model_copy(update=update), fits


def eager_framework_calls() -> FrameworkCalls:
    """Framework calls per layer and per step of the harness's eager implementation, beyond the ops of the
    simulator's decode graph of the same reference model."""
    from idealrt.calibration.harness.framework import REFERENCE_LAYER, framework_calls
    from idealrt.simulator.compiled import compiled_pass
    from idealrt.simulator.structure import BuildOptions, PassKey, Phase, layer_piece, model_structure

    structure = model_structure(REFERENCE_LAYER)
    pieces = compiled_pass(PassKey(structure, BuildOptions(phase=Phase.DECODE))).pieces
    (kind,) = structure.layer_kinds
    ops_per_step = len(pieces["prologue"].ops) + len(pieces["epilogue"].ops)
    return framework_calls(len(pieces[layer_piece(kind)].ops), ops_per_step)


def _unmeasured_note(unmeasured: dict[str, str], base_name: str) -> str:
    if not unmeasured:
        return ""
    listed = ", ".join(f"{name} ({why})" for name, why in sorted(unmeasured.items()))
    return f"not fitted, kept from '{base_name}' because the data cannot show them: {listed}"


def _borrowed_note(borrowed: dict[str, float]) -> str:
    return "constants without data here, taken from another profile: " + ", ".join(
        f"{name}={value:.4g}" for name, value in sorted(borrowed.items())
    )


# --- end to end -------------------------------------------------------------------------------------------------

# The GEMM shape curve (m_half, n_half, k_half) and the tile model stay the kernel profile's, fitted on 27,000
# A100 cuBLAS shapes: end-to-end timings of five models cannot tell a GEMM's shape efficiency from the other costs
# that grow with the prompt, and when they were free the fit bought the prompt-length growth of ada's prefill (the
# per-token host work below) with a K half-saturation of ~2,900 (ada's K = 1024 GEMMs at 26 % of the curve), which
# then made GPT-J's prefill 12 % too slow. Freed with host.per_token_s they fall back to the kernel fit's region
# (m_half 81 vs 89, n_half and k_half ≈ 0 vs 32 and 72) and NeoX's held-out fold gets worse, so they are fixed there.
# host.per_token_s: ada's prefill grows by ~9.5 µs per prompt token from 32 to 512 tokens, where its device work
# is hidden under an ~18 ms host path; fitted it is 9.4–10.6 µs in every leave-one-model-out fold.
# host.first_pass_per_layer_s: Megatron-LM allocates each layer's KV cache when a request's first forward reaches
# it; without it every model's time for 1 output token sat 2–3 ms above one decode step (≈ 0.2 ms + 56 µs per layer).
MEGATRON_FREE = (
    "gemm.peak_fraction",
    "attention.prefill_peak_fraction",
    "elementwise.bandwidth_fraction",
    "collective.latency_s",
    "host.launch_s",
    "host.per_layer_s",
    "host.per_step_s",
    "host.per_token_s",
    "host.first_pass_per_layer_s",
)
MEGATRON_INITIAL = {
    "gemm.peak_fraction": 0.7,
    "attention.prefill_peak_fraction": 0.5,
    "elementwise.bandwidth_fraction": 0.5,
    "collective.latency_s": 3e-5,
    "host.launch_s": 1e-5,
    "host.per_layer_s": 3e-4,
    "host.per_step_s": 2e-3,
    "host.per_token_s": 5e-6,
    "host.first_pass_per_layer_s": 6e-5,
}


@dataclass(frozen=True)
class EndToEndReport:
    fit: EndToEndFit
    held_out: dict[str, np.ndarray]  # group → log(measured / predicted) when the group was left out


def end_to_end_profile(
    name: str,
    description: str,
    datasets: Sequence[str],
    base: Profile,
    free_names: Sequence[str],
    initial: dict[str, float],
    group_of: Callable[[EndToEndMeasurement], str] = lambda r: r.model,
    data_dir: Path = SHIPPED_DATA_DIR,
    command: str = "",
    behaviour_options: Sequence[Behaviours] | None = None,
) -> tuple[Profile, EndToEndReport]:
    provenance = read_provenance(data_dir)
    records = [r for r in read_e2e_records(data_dir) if r.dataset in datasets]
    if not records:
        raise UserError(f"no end-to-end records in {', '.join(datasets)}")
    for dataset in sorted({record.dataset for record in records}):
        provenance_of(provenance, dataset, data_dir)
    base_constants = base.params()
    free = select(free_names, base_constants)
    options = {} if behaviour_options is None else {"behaviour_options": behaviour_options}
    fit = fit_end_to_end(records, provenance, data_dir, base_constants, free, initial, **options)
    held_out = leave_one_group_out(
        records, group_of, provenance, data_dir, base_constants, free, initial, fit.behaviours
    )
    pooled = np.concatenate(list(held_out.values()))
    fitted, held = summarize(fit.residuals), summarize(pooled)
    groups: dict[str, dict[str, float]] = {}
    ordered_groups = np.array([group_of(r) for r in fit.records])
    for group, residuals in held_out.items():
        groups.update([_group_stats(group, fit.residuals[ordered_groups == group], residuals)])
    specs_params = _parameter_range(records, data_dir)
    profile = base.with_params(fit.result.constants).model_copy(
        update={
            "name": name,
            "description": description,
            "kind": "fitted",
            "hardware": sorted({provenance[d].hardware for d in datasets}),
            "auto_for": [],
            "memory_utilization": 1.0,  # no up-front reservation: allocations as needed
            "behaviours": fit.behaviours,
            "valid_range": {
                "batch": (float(min(r.batch for r in records)), float(max(r.batch for r in records))),
                "prompt_tokens": (
                    float(min(r.prompt_tokens for r in records)),
                    float(max(r.prompt_tokens for r in records)),
                ),
                "output_tokens": (
                    float(min(r.output_tokens for r in records)),
                    float(max(r.output_tokens for r in records)),
                ),
                "tp": (float(min(r.tp for r in records)), float(max(r.tp for r in records))),
                "pp": (float(min(r.pp for r in records)), float(max(r.pp for r in records))),
                "params_total": specs_params,
            },
            "fit": FitStatistics(
                datasets=list(datasets),
                n_points=fitted.n,
                median_abs_error=fitted.median_abs_error,
                p90_abs_error=fitted.p90_abs_error,
                held_out_median_abs_error=held.median_abs_error,
                held_out_method="leave one model out: fit on the others, predict it",
                log_residual_p10=held.log_residual_p10,
                log_residual_p90=held.log_residual_p90,
                interval_source="held-out (leave-one-model-out) end-to-end residuals",
                by_group=groups,
            ),
            "provenance": Provenance(
                command=command,
                date=_today(),
                notes=(
                    f"behaviours {'as the stack runs' if len(fit.loss_by_behaviours) == 1 else 'chosen by loss'}: "
                    f"{describe(fit.behaviours)} "
                    f"(losses: {'; '.join(f'{k}: {v:.6g}' for k, v in fit.loss_by_behaviours.items())}); "
                    f"free constants: {', '.join(free_names)}; the rest from '{base.name}'"
                ),
            ),
        }
    )
    return profile, EndToEndReport(fit=fit, held_out=held_out)


def _parameter_range(records: Sequence[EndToEndMeasurement], data_dir: Path) -> tuple[float, float]:
    from idealrt.calibration.fit.targets import dataset_model
    from idealrt.simulator.parameters import parameter_counts

    totals = [parameter_counts(dataset_model(m, data_dir)).total for m in sorted({r.model for r in records})]
    return float(min(totals)), float(max(totals))


# What Megatron-LM's 2022 generation runs, from its code rather than chosen by the fit's loss: GPTModel's forward
# applies the LM head to every position of the prompt (post_language_model_processing → parallel_lm_logits over the
# whole sequence; text generation then takes the last position's logits), and its attention is the fused
# scale-mask-softmax over the materialized score matrix (FlashAttention came to Megatron-LM in 2023). The loss
# alone preferred the LM head on the last position by 3 % (the per-token host work absorbs the logits' cost on
# these five models), which would make a large-vocabulary model's prefill too fast.
MEGATRON_BEHAVIOURS = Behaviours(lm_head_all_prompt_positions=True, naive_attention=True)


def megatron_profile(kernels_a100: Profile, command: str = "") -> tuple[Profile, EndToEndReport]:
    return end_to_end_profile(
        name="megatron-a100-2022",
        description="the reference stack of Narayanan et al. (NeurIPS 2023): Megatron-LM (2022) fp16 generation at "
        "batch 1 on A100-SXM4-80GB, fitted end to end on its 1,350 timings of 5 models",
        datasets=("megatron-a100",),
        base=kernels_a100,
        free_names=MEGATRON_FREE,
        initial=MEGATRON_INITIAL,
        command=command,
        behaviour_options=(MEGATRON_BEHAVIOURS,),
    )


# --- derated ----------------------------------------------------------------------------------------------------

# Maximum achievable matmul FLOPS as a share of the dense bf16 peak (ml-engineering compute/accelerator/README.md,
# commit 744d01e): A100 SXM 86.9, H100 SXM 80.3, GH200 83.6, MI300X 51.4, MI325X 60.4, Gaudi 3 76.8, B200 77.6,
# GB200 72.9 (%).
MAMF_SHARES = (0.869, 0.803, 0.836, 0.514, 0.604, 0.768, 0.776, 0.729)


def derated_profile(kernel_profiles: Sequence[Profile], command: str = "") -> Profile:
    """For hardware without a fitted profile: the geometric mean of the fitted kernel profiles' constants, with
    the GEMM peak fraction set to the median MAMF share across vendors."""
    names = kernel_profiles[0].params()
    constants = {
        name: float(np.exp(np.mean([np.log(max(p.params()[name], 1e-12)) for p in kernel_profiles]))) for name in names
    }
    constants["gemm.peak_fraction"] = statistics.median(MAMF_SHARES)
    sources = ", ".join(p.name for p in kernel_profiles)
    return IDEAL.with_params(constants).model_copy(
        update={
            "name": "derated",
            "kind": "derated",
            "behaviours": IDEAL.behaviours.model_copy(update={"expert_routing": "uniform"}),
            "description": "datasheet peaks derated by default efficiencies: geometric mean of the fitted kernel "
            f"profiles ({sources}) and the median maximum-achievable-matmul share across vendors",
            "memory_utilization": VLLM_MEMORY_UTILIZATION,
            "fit": FitStatistics(
                datasets=sorted({d for p in kernel_profiles for d in p.fit.datasets}),
                log_residual_p10=min(p.fit.log_residual_p10 for p in kernel_profiles),
                log_residual_p90=max(p.fit.log_residual_p90 for p in kernel_profiles),
                interval_source="the widest band of the kernel profiles it derives from (no fit of its own)",
            ),
            "provenance": Provenance(
                command=command,
                date=_today(),
                notes=(
                    "gemm.peak_fraction = median of MAMF shares "
                    + ", ".join(f"{s:.3f}" for s in MAMF_SHARES)
                    + " (ml-engineering compute/accelerator/README.md @744d01e); other constants: geometric means of "
                    + sources
                ),
            ),
        }
    )
