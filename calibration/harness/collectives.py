"""All-reduce across the visible GPUs: torch.distributed (NCCL) in one spawned process per GPU.

Every rank runs the same number of repeats; a repeat's time is the slowest rank's, as a tensor-parallel step
waits for it. The `gloo` backend on CPU tensors runs the same code path (used to test it without GPUs).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from idealrt.calibration.harness.microbench import TORCH_DTYPES
from idealrt.calibration.harness.timing import CallClock, TimingPolicy, summarize
from idealrt.calibration.records import OpMeasurement
from idealrt.simulator.dtypes import bytes_per_element


def all_reduce_unavailable_reason(device: torch.device) -> str | None:
    """Why no all-reduce can be measured here, or None when it can."""
    if device.type != "cuda":
        return "collectives are measured across GPUs only; this is a CPU run"
    count = torch.cuda.device_count()
    if count < 2:
        return f"all-reduce needs at least 2 visible GPUs, torch.cuda.device_count() is {count}"
    if not dist.is_nccl_available():
        return "this torch build has no NCCL"
    return None


def all_reduce_sweep(
    sizes: tuple[int, ...],
    dtype: str,
    policy: TimingPolicy,
    dataset: str,
    advance: Callable[[], None] = lambda: None,
    backend: str = "nccl",
    world_size: int | None = None,
) -> Iterator[OpMeasurement]:
    """One record per payload size (bytes each rank contributes), timed over `world_size` ranks (default:
    every visible GPU)."""
    world = world_size if world_size is not None else torch.cuda.device_count()
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "all_reduce.json"
        rendezvous = Path(scratch) / "rendezvous"
        mp.spawn(
            _rank_main,
            args=(world, backend, sizes, dtype, policy, str(rendezvous), str(results)),
            nprocs=world,
            join=True,
        )
        rows = json.loads(results.read_text())
    for row in rows:
        advance()
        yield OpMeasurement(
            dataset=dataset,
            op="collective",
            name="all_reduce",
            dtype=dtype,
            collective="all_reduce",
            group_size=world,
            payload_bytes=row["payload_bytes"],
            devices_per_node=world,
            time_s=row["median_s"],
            time_s_std=row["std_s"],
            repeats=row["count"],
        )


def _rank_main(
    rank: int,
    world: int,
    backend: str,
    sizes: tuple[int, ...],
    dtype: str,
    policy: TimingPolicy,
    rendezvous: str,
    results: str,
) -> None:
    on_gpu = backend == "nccl"
    if on_gpu:
        torch.cuda.set_device(rank)
    device = torch.device("cuda", rank) if on_gpu else torch.device("cpu")
    dist.init_process_group(backend, init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        rows = [_time_all_reduce(size, dtype, device, policy) for size in sizes]
    finally:
        dist.destroy_process_group()
    if rank == 0:
        Path(results).write_text(json.dumps(rows))


def _time_all_reduce(size: int, dtype: str, device: torch.device, policy: TimingPolicy) -> dict[str, float]:
    payload = torch.zeros(max(1, int(size // bytes_per_element(dtype))), device=device, dtype=TORCH_DTYPES[dtype])
    clock = CallClock(device)
    for _ in range(policy.warmups):
        dist.all_reduce(payload)
    estimate = _slowest([clock.time(lambda: dist.all_reduce(payload))], device)
    repeats = min(policy.max_repeats, max(policy.min_repeats, math.floor(policy.budget_s / max(estimate[0], 1e-9))))
    samples = _slowest([clock.time(lambda: dist.all_reduce(payload)) for _ in range(repeats)], device)
    stats = summarize(samples)
    return {
        "payload_bytes": payload.numel() * payload.element_size(),
        "median_s": stats.median_s,
        "std_s": stats.std_s,
        "count": stats.count,
    }


def _slowest(samples: list[float], device: torch.device) -> list[float]:
    """Element-wise maximum over ranks."""
    times = torch.tensor(samples, device=device, dtype=torch.float64)
    dist.all_reduce(times, op=dist.ReduceOp.MAX)
    return times.tolist()
