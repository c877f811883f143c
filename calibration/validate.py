"""How wrong the profiles are on data their fits did not see — the point of calibrating at all.

Sections (each a list of rows: what was predicted, how many points, median / p90 / max |predicted/measured − 1|):
- `lower-bound`: every shipped record against the ideal profile, which must never predict a time above a measured
  one (a violation is a bug in the counts or a measurement to distrust).
- `kernels`: each kernel profile's op classes, every shape family predicted by a fit that did not see it.
- `megatron`: leave one model out on the paper's Megatron timings (fit on 4 models, predict the 5th).
- `end-to-end`: the `auto` profile of each hardware on end-to-end datasets no fit used (gpt-fast, Argonne).
- `cpu`: the closed loop on a `calibrate measure --device cpu` directory: fit from its microbenchmarks only,
  predict its end-to-end generation timings.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idealrt.calibration.fit.optimize import Target
from idealrt.calibration.fit.statistics import summarize
from idealrt.calibration.fit.targets import dataset_hardware, end_to_end_targets, op_counts, op_targets
from idealrt.calibration.recipes import KERNEL_DATA, MEGATRON_FREE, MEGATRON_INITIAL, end_to_end_profile, kernel_profile
from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement
from idealrt.calibration.store import SHIPPED_DATA_DIR, read_e2e_records, read_op_records, read_provenance
from idealrt.simulator.errors import UserError
from idealrt.simulator.profile import IDEAL, Profile, load_profile, resolve_profile

if TYPE_CHECKING:
    from idealrt.hardware_specs.schema import HardwareSpec

HELD_OUT_END_TO_END = ("gpt-fast", "argonne")  # dataset prefixes no shipped profile was fitted on


@dataclass(frozen=True)
class Row:
    section: str
    group: str
    n: int
    median_abs_error: float
    p90_abs_error: float
    max_abs_error: float
    note: str = ""
    lowest_ratio: float | None = None  # lower-bound rows: the smallest measured / ideal

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    # (measured, predicted, label) of every held-out prediction, for the scatter plot
    points: list[tuple[np.ndarray, np.ndarray, str]] = field(default_factory=list)
    progress: bool = True  # one line per row on stderr as it is computed (validation runs for minutes)
    started: float = field(default_factory=time.perf_counter)

    def append(self, row: Row) -> None:
        self.rows.append(row)
        if self.progress:
            print(
                f"[{time.perf_counter() - self.started:5.0f} s] {row.section}: {row.group}: {row.n} points, "
                f"median {row.median_abs_error:.1%}",
                file=sys.stderr,
                flush=True,
            )

    def add(
        self,
        section: str,
        group: str,
        log_measured_over_predicted: np.ndarray,
        note: str = "",
        measured: np.ndarray | None = None,
    ) -> None:
        stats = summarize(log_measured_over_predicted)
        self.append(
            Row(section, group, stats.n, stats.median_abs_error, stats.p90_abs_error, stats.max_abs_error, note)
        )
        if measured is not None:
            self.points.append((measured, measured / np.exp(log_measured_over_predicted), f"{section}: {group}"))


PER_KIND_COSTABLE = frozenset({"gemm", "attention_prefill", "attention_decode", "elementwise", "framework"})


def _costable(record: OpMeasurement, hardware: HardwareSpec) -> bool:
    """Whether the simulator can cost the record on the hardware (for the kinds in PER_KIND_COSTABLE, that
    depends on its kind and dtype alone: the hardware's peak)."""
    try:
        op_counts(record, hardware)
    except UserError:
        return False
    return True


def lower_bound(report: Report, data_dir: Path = SHIPPED_DATA_DIR) -> None:
    """Ideal predictions against every record: the row's numbers are of measured/ideal − 1 ≥ 0."""
    provenance = read_provenance(data_dir)
    params = IDEAL.params()
    op_records, e2e_records = read_op_records(data_dir), read_e2e_records(data_dir)
    for dataset in sorted(provenance):
        hardware = dataset_hardware(provenance[dataset], data_dir)
        ops, skipped = [], 0
        costable: dict[tuple[str, str], bool] = {}  # (kind, dtype) → whether the hardware has its peak
        for record in (r for r in op_records if r.dataset == dataset):
            # e.g. collectives across servers on hardware with no inter-node figure (each record its own group)
            key = (record.op, record.dtype)
            if key not in costable or record.op not in PER_KIND_COSTABLE:
                costable[key] = _costable(record, hardware)
            if not costable[key]:
                skipped += 1
                continue
            ops.append(record)
        targets: list[Target] = [
            *op_targets(ops, provenance, data_dir),
            *end_to_end_targets(
                [r for r in e2e_records if r.dataset == dataset], provenance, data_dir, IDEAL.behaviours
            ),
        ]
        if not targets:
            continue
        ratio = np.concatenate([t.measured / np.asarray(t.predict(params, np)) for t in targets])
        violations = int(np.sum(ratio < 1.0))
        note = (
            f"{violations} measured below ideal (worst measured/ideal {ratio.min():.3f})"
            if violations
            else f"all ≥ ideal (closest measured/ideal {ratio.min():.3f})"
        )
        if skipped:
            note += f"; {skipped} not costable (no link figure in the hardware spec)"
        report.append(
            Row(
                "lower-bound",
                dataset,
                int(ratio.size),
                float(np.median(ratio) - 1),
                float(np.quantile(ratio, 0.9) - 1),
                float(ratio.max() - 1),
                note,
                lowest_ratio=float(ratio.min()),
            )
        )


def kernels(report: Report, hardware_ids: Sequence[str] = tuple(KERNEL_DATA)) -> None:
    provenance = read_provenance(SHIPPED_DATA_DIR)
    for hardware in hardware_ids:
        profile, fits = kernel_profile(hardware)
        for dataset in KERNEL_DATA[hardware].never_fitted:
            records = read_op_records(SHIPPED_DATA_DIR, dataset)
            targets = op_targets(records, provenance, SHIPPED_DATA_DIR)
            measured = np.concatenate([t.measured for t in targets])
            predicted = np.concatenate([np.asarray(t.predict(profile.params(), np)) for t in targets])
            report.add("kernels", f"{hardware} ({dataset})", np.log(measured / predicted), "never fitted", measured)
        for fit in fits:
            measured = np.array([r.time_s for r in fit.records])
            for dataset in fit.datasets:
                mask = np.array([r.dataset == dataset for r in fit.records])
                report.add(
                    "kernels",
                    f"{hardware} {fit.op_class} ({dataset})",
                    fit.held_out_residuals[mask],
                    "5-fold by shape family",
                    measured[mask],
                )


def megatron(report: Report, profile_name: str = "megatron-a100-2022") -> None:
    """Leave one model out with the shipped profile's behaviours and free constants."""
    shipped = load_profile(profile_name)
    base = load_profile("a100-sxm-80gb-kernels")
    _, result = end_to_end_profile(
        name=shipped.name,
        description=shipped.description,
        datasets=("megatron-a100",),
        base=base,
        free_names=MEGATRON_FREE,
        initial=MEGATRON_INITIAL,
        behaviour_options=[shipped.behaviours],
    )
    records = result.fit.records
    for model, residuals in sorted(result.held_out.items()):
        measured = np.array([r.time_s for r in records if r.model == model])
        report.add("megatron", model, residuals, "leave-one-model-out", measured)


def end_to_end(
    report: Report, data_dir: Path = SHIPPED_DATA_DIR, prefixes: Sequence[str] = HELD_OUT_END_TO_END
) -> None:
    provenance = read_provenance(data_dir)
    records = [r for r in read_e2e_records(data_dir) if r.dataset.startswith(tuple(prefixes))]
    for dataset in sorted({r.dataset for r in records}):
        chosen = [r for r in records if r.dataset == dataset]
        profile, _note = resolve_profile("auto", provenance[dataset].hardware)
        residuals, measured = _predict_end_to_end(chosen, profile, data_dir)
        report.add("end-to-end", dataset, residuals, f"profile {profile.name} ({profile.kind})", measured)


def _predict_end_to_end(
    records: Sequence[EndToEndMeasurement], profile: Profile, data_dir: Path
) -> tuple[np.ndarray, np.ndarray]:
    targets = end_to_end_targets(records, read_provenance(data_dir), data_dir, profile.behaviours)
    params = profile.params()
    measured = np.concatenate([t.measured for t in targets])
    predicted = np.concatenate([np.asarray(t.predict(params, np)) for t in targets])
    return np.log(measured / predicted), measured


def cpu_loop(report: Report, data_dir: Path) -> Profile:
    """Fit a profile from the directory's microbenchmarks only, then predict its end-to-end timings."""
    from idealrt.calibration.recipes import measured_kernel_profile

    profile, fits = measured_kernel_profile(data_dir)
    for fit in fits:
        report.add(
            "cpu",
            f"{fit.op_class} (held-out shapes)",
            fit.held_out_residuals,
            "5-fold by shape family",
            np.array([r.time_s for r in fit.records]),
        )
    records = read_e2e_records(data_dir)
    pooled = []
    for model in sorted({r.model for r in records}):
        for metric in ("ttft", "tpot", "e2e"):
            chosen = [r for r in records if r.model == model and r.metric == metric]
            if chosen:
                residuals, measured = _predict_end_to_end(chosen, profile, data_dir)
                report.add("cpu", f"{model} {metric}", residuals, "profile fitted on microbenchmarks only", measured)
                if metric == "e2e":
                    pooled.append(residuals)
    if pooled:
        report.add("cpu", "all models e2e", np.concatenate(pooled), "never fitted: goal median ≤ 10 %, max ≤ 25 %")
    return profile
