"""`measure`: every sweep on one device, then the data directory a fit reads (records, provenance, model specs,
hardware spec). The layout is `calibration/store.py`'s."""

from __future__ import annotations

import datetime
import logging
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from idealrt.calibration.harness import collectives, endtoend, framework, microbench
from idealrt.calibration.harness.grids import SweepPlan, sweep_plan
from idealrt.calibration.harness.hardware import hardware_spec, write_hardware_spec
from idealrt.calibration.harness.system import device_facts, resolve_device, software_versions
from idealrt.calibration.harness.timing import configure_threads
from idealrt.calibration.records import EndToEndMeasurement, OpMeasurement, Provenance
from idealrt.calibration.store import write_provenance, write_records
from idealrt.simulator.model.spec import ModelSpec

log = logging.getLogger("idealrt.calibration.harness")
Sweep = Callable[[Callable[[], None]], Iterator[OpMeasurement]]  # called with the progress bar's advance
SEED = 0
BUSY_LOAD = 0.5  # 1-minute load average above which a CPU run warns that other processes share the cores


@dataclass
class MeasureSummary:
    out_dir: Path
    dataset: str
    device_name: str
    threads: int
    duration_s: float
    op_records: list[OpMeasurement]
    e2e_records: list[EndToEndMeasurement]
    peak_tflops: dict[str, float]
    bandwidth_gb_s: float
    skipped: list[str] = field(default_factory=list)

    def relative_spread(self) -> dict[str, tuple[float, float]]:
        """Per op kind: median and 90th percentile of std/median over its measurements (repeat-to-repeat noise)."""
        spreads: dict[str, list[float]] = defaultdict(list)
        for r in self.op_records:
            if r.time_s_std is not None:
                spreads[r.op].append(r.time_s_std / r.time_s)
        return {op: (statistics.median(v), _percentile(v, 0.9)) for op, v in sorted(spreads.items())}

    def e2e_ranges(self) -> dict[str, dict[str, tuple[float, float]]]:
        """Per model and metric: the smallest and largest median time over the (batch, prompt, output) points."""
        times: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in self.e2e_records:
            times[r.model][r.metric].append(r.time_s)
        return {
            model: {metric: (min(v), max(v)) for metric, v in sorted(by_metric.items(), reverse=True)}
            for model, by_metric in times.items()
        }

    def lines(self) -> list[str]:
        peaks = ", ".join(f"{dtype} {_flop_rate(tflops)}" for dtype, tflops in self.peak_tflops.items())
        threads = f"{self.threads} thread" + ("s" if self.threads > 1 else "")
        lines = [
            f"dataset {self.dataset} on {self.device_name} ({threads}) in {self.duration_s:.0f} s → {self.out_dir}",
            f"{len(self.op_records)} op records, {len(self.e2e_records)} end-to-end records",
            f"peak GEMM: {peaks}; memory bandwidth {self.bandwidth_gb_s:.1f} GB/s",
        ]
        for model, ranges in self.e2e_ranges().items():
            lines.append(
                f"{model}: "
                + ", ".join(f"{metric} {low * 1e3:.1f}–{high * 1e3:.1f} ms" for metric, (low, high) in ranges.items())
            )
        for op, (median, p90) in self.relative_spread().items():
            lines.append(f"noise {op}: std/median median {median:.1%}, 90th percentile {p90:.1%}")
        lines += [f"skipped: {reason}" for reason in self.skipped]
        return lines


def measure(
    device: str, out_dir: Path, quick: bool, threads: int | None = None, command: str | None = None
) -> MeasureSummary:
    """Run every sweep for `device` ('cpu' or 'cuda') and write the results under `out_dir`.

    `command` is recorded as the citation; by default the equivalent `idealrt calibrate measure` command line.
    """
    started = time.perf_counter()
    torch_device = resolve_device(device)
    thread_count = configure_threads(threads)
    facts = device_facts(torch_device)
    plan = sweep_plan(facts.kind, quick, facts.last_level_cache_bytes)
    date = datetime.date.today().isoformat()
    dataset = f"measured-{device}-{date}" + ("-quick" if quick else "")
    command = command or _equivalent_command(device, out_dir, quick, threads)
    torch.manual_seed(SEED)

    console = Console(stderr=True)
    handler = RichHandler(console=console, show_path=False)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        load_before = _load_average()
        if torch_device.type == "cpu" and load_before is not None and load_before > BUSY_LOAD:
            log.warning(
                "load average %.2f on %d cores before measuring: other processes compete for the CPUs and "
                "multi-threaded ops stall waiting for descheduled threads; timings will be slow and noisy "
                "(an idle machine or --threads 1 helps)",
                load_before,
                os.cpu_count() or 0,
            )
        with torch.inference_mode():
            op_records, e2e_records, skipped, specs = _run_sweeps(plan, torch_device, dataset, console)
        load_note = f"1-minute load average {load_before} at the start, {_load_average()} at the end of the sweeps. "
    finally:
        log.removeHandler(handler)

    hardware = hardware_spec(facts, op_records, command, date)
    hardware_path = (out_dir / "hardware.yaml").resolve()
    write_hardware_spec(hardware, hardware_path)
    endtoend.write_model_specs(specs, out_dir / "models")
    write_records(op_records, out_dir / "ops" / f"{dataset}.csv")
    write_records(e2e_records, out_dir / "e2e" / f"{dataset}.csv")
    write_provenance(
        [
            Provenance(
                # relative to the data directory, so that the directory can be moved or committed
                dataset=dataset,
                citation=command,
                device=facts.name,
                hardware=hardware_path.name,
                software=software_versions(torch_device, thread_count),
                date=date,
                method=_method(plan, torch_device, thread_count),
                notes=("quick mode (reduced sweeps). " if quick else "")
                + load_note
                + "; ".join(f"skipped {s}" for s in skipped),
            )
        ],
        out_dir,
    )
    return MeasureSummary(
        out_dir=out_dir,
        dataset=dataset,
        device_name=facts.name,
        threads=thread_count,
        duration_s=time.perf_counter() - started,
        op_records=op_records,
        e2e_records=e2e_records,
        peak_tflops={str(dtype): tflops for dtype, tflops in hardware.peak_tflops.items()},
        bandwidth_gb_s=hardware.hbm_bandwidth_gb_s,
        skipped=skipped,
    )


def _run_sweeps(
    plan: SweepPlan, device: torch.device, dataset: str, console: Console
) -> tuple[list[OpMeasurement], list[EndToEndMeasurement], list[str], list[ModelSpec]]:
    policy, act = plan.policy, plan.activation_dtype
    cases, skipped = microbench.gemm_cases(plan, device)
    specs = endtoend.benchmark_models(device.type)
    op_sweeps: list[tuple[str, int, Sweep]] = [
        (
            "GEMM",
            len(cases),
            lambda adv: microbench.gemm_sweep(cases, device, policy, dataset, adv, plan.cold_bytes),
        ),
        (
            "memory bandwidth",
            len(plan.bandwidth_bytes),
            lambda adv: microbench.bandwidth_sweep(plan.bandwidth_bytes, device, act, policy, dataset, adv),
        ),
        (
            "attention",
            len(plan.attention),
            lambda adv: microbench.attention_sweep(plan.attention, device, act, policy, dataset, adv, plan.cold_bytes),
        ),
        (
            "norms, activations, rotary",
            len(plan.elementwise_shapes),
            lambda adv: microbench.elementwise_sweep(plan.elementwise_shapes, device, act, policy, dataset, adv),
        ),
        (
            "eager framework calls",
            len(plan.framework),
            lambda adv: framework.framework_sweep(
                plan.framework, device, act, microbench.TORCH_DTYPES[act], policy, dataset, adv
            ),
        ),
    ]
    unavailable = collectives.all_reduce_unavailable_reason(device)
    if unavailable is None:
        op_sweeps.append(
            (
                "all-reduce",
                len(plan.all_reduce_bytes),
                lambda adv: collectives.all_reduce_sweep(plan.all_reduce_bytes, act, policy, dataset, adv),
            )
        )
    else:
        skipped.append(f"all-reduce: {unavailable}")
    for reason in skipped:
        log.info("skipping %s", reason)

    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    op_records: list[OpMeasurement] = []
    e2e_records: list[EndToEndMeasurement] = []
    # The visits to the end-to-end points are spread evenly through the op sweeps rather than run after them: a
    # shared machine's memory bandwidth drifts by tens of percent over a minute, and the points must see the same
    # machine as the microbenchmarks that predict them.
    op_cases = sum(total for _, total, _ in op_sweeps)
    e2e_visits = len(specs) * len(plan.e2e_points) * plan.e2e_visits
    cases_per_visit = max(1, op_cases // max(e2e_visits, 1))
    cases_done = visits_done = 0
    with Progress(*columns, console=console) as progress:
        tasks = [(progress.add_task(name, total=total), sweep) for name, total, sweep in op_sweeps]
        e2e_task = progress.add_task("end-to-end generation", total=e2e_visits)
        visits = endtoend.endtoend_sweep(specs, plan, device, dataset, lambda: progress.advance(e2e_task))

        def advance(task: TaskID) -> None:
            nonlocal cases_done
            cases_done += 1
            progress.advance(task)

        for task, sweep in tasks:
            for record in sweep(partial(advance, task)):
                op_records.append(record)
                if cases_done >= cases_per_visit * (visits_done + 1) and visits_done < e2e_visits:
                    e2e_records += next(visits)
                    visits_done += 1
        for visit in visits:
            e2e_records += visit
    return op_records, e2e_records, skipped, specs


def _method(plan: SweepPlan, device: torch.device, threads: int) -> str:
    timer = "CUDA events around each call, synchronized per repeat" if device.type == "cuda" else "time.perf_counter"
    return (
        f"ops: {plan.policy.describe()}; timer {timer}; torch.inference_mode; {threads} threads; "
        f"GQA attention via scaled_dot_product_attention({microbench.GQA_METHOD}); copy/add write preallocated "
        "outputs, clone allocates; elementwise bytes and FLOPs from simulator/ops/elementwise.py; eager framework "
        "calls, norms, activations and rotary timed in turn with the others of their shape, one call each per "
        "round. "
        "end-to-end: random-weight models from models/*.yaml, points spread evenly through the op sweeps, "
        f"{plan.e2e_policy.warmups} warm-up request(s) per model, then {plan.e2e_visits} visit(s) per point, "
        "spread through the run, each timing requests filling a "
        f"{plan.e2e_policy.budget_s:g} s budget, clamped to [{plan.e2e_policy.min_repeats}, "
        f"{plan.e2e_policy.max_repeats}]; "
        "time.perf_counter around each pass with a device synchronize after its argmax; greedy; LM head on the last "
        "position; ttft = prefill, tpot = mean decode step of a request, e2e = ttft + sum of steps; medians over "
        "requests."
    )


def _equivalent_command(device: str, out_dir: Path, quick: bool, threads: int | None) -> str:
    parts = ["idealrt", "calibrate", "measure", "--device", device]
    parts += ["--quick"] if quick else []
    parts += ["--threads", str(threads)] if threads is not None else []
    return " ".join(parts + ["--out", str(out_dir)])


def _load_average() -> float | None:
    """Other processes competing for the cores are the main source of CPU timing noise; record how busy it was."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _flop_rate(tflops: float) -> str:
    return f"{tflops:.1f} TFLOP/s" if tflops >= 1 else f"{tflops * 1e3:.1f} GFLOP/s"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
