"""From counts to seconds: each op's device time under a profile, and the host/device critical path of a pass.

Written against an array namespace `xp` (numpy for estimates, jax.numpy for fitting by gradient), with the
profile's constants as a flat mapping {'gemm.peak_fraction': value, ...} so the fitter can pass traced arrays.

Host and device run asynchronously: the host launches kernel i (taking `host.launch_s`, plus
`host.per_layer_s` at the start of each layer) while the device runs earlier kernels; kernel i starts when both
its launch is done and kernel i−1 has finished. For a run of ops with host times h_i and device times d_i the
device finishes at
    max(D0 + Σd,  H0 + A),   A = max_i (h_1 + … + h_i) + (d_i + … + d_n)
when host and device enter at H0 and D0: a (max, +) linear map, so segments compose exactly (`compose`) and n
identical layers collapse in closed form (`repeat`). With no host costs this is Σd, the plain roofline sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = Any  # a numpy or jax array (or a float)
Params = Mapping[str, Array]


@dataclass(frozen=True)
class OpTime:
    """Device time of one op and the four terms it is made of (all in seconds)."""

    total: Array
    compute: Array
    memory: Array
    comm: Array
    latency: Array


def _saturation(x: Array, half: Array, xp: Any) -> Array:
    """x / (x + half): 0 → 1 as x grows past `half`; exactly 1 when half = 0 (sizes are ≥ 1)."""
    return x / (x + half)


def gemm_time(
    flops: Array, bytes_moved: Array, m: Array, n: Array, k: Array, peak: float, bandwidth: float, p: Params, xp: Any
) -> OpTime:
    efficiency = (
        p["gemm.peak_fraction"]
        * _saturation(m, p["gemm.m_half"], xp)
        * _saturation(n, p["gemm.n_half"], xp)
        * _saturation(k, p["gemm.k_half"], xp)
    )
    compute = flops / (peak * efficiency)
    memory = bytes_moved / (bandwidth * p["gemm.bandwidth_fraction"])
    latency = p["gemm.kernel_latency_s"] + 0 * flops
    return OpTime(latency + xp.maximum(compute, memory), compute, memory, 0 * flops, latency)


def attention_time(
    flops: Array,
    bytes_moved: Array,
    new_tokens: Array,
    context: Array,
    decode: bool,
    peak: float,
    bandwidth: float,
    p: Params,
    xp: Any,
) -> OpTime:
    if decode:
        compute = flops / peak
        memory = bytes_moved / (
            bandwidth
            * p["attention.decode_bandwidth_fraction"]
            * _saturation(context, p["attention.decode_context_half"], xp)
        )
    else:
        compute = flops / (
            peak * p["attention.prefill_peak_fraction"] * _saturation(new_tokens, p["attention.prefill_seq_half"], xp)
        )
        memory = bytes_moved / bandwidth
    latency = p["attention.kernel_latency_s"] + 0 * flops
    return OpTime(latency + xp.maximum(compute, memory), compute, memory, 0 * flops, latency)


def elementwise_time(flops: Array, bytes_moved: Array, peak: float, bandwidth: float, p: Params, xp: Any) -> OpTime:
    compute = flops / (peak * p["elementwise.compute_fraction"])
    memory = bytes_moved / (bandwidth * p["elementwise.bandwidth_fraction"])
    latency = p["elementwise.kernel_latency_s"] + 0 * flops
    return OpTime(latency + xp.maximum(compute, memory), compute, memory, 0 * flops, latency)


def collective_time(
    wire_bytes: Array,
    group: Array,
    link_bandwidth: Array,
    point_to_point: Array,
    crosses_nodes: Array,
    p: Params,
    xp: Any,
) -> OpTime:
    comm = wire_bytes / (link_bandwidth * p["collective.bandwidth_fraction"])
    latency = (
        xp.where(
            point_to_point,
            p["collective.point_to_point_latency_s"],
            p["collective.latency_s"] + p["collective.latency_per_peer_s"] * (group - 1),
        )
        + crosses_nodes * p["collective.inter_node_latency_s"]
        + 0 * wire_bytes
    )
    zero = 0 * wire_bytes
    return OpTime(latency + comm, zero, zero, comm, latency)


# --- the (max, +) algebra of host/device segments ---


@dataclass(frozen=True)
class Segment:
    """A run of ops: total host time, total device time, and A (the critical-path term above)."""

    host: Array
    device: Array
    critical: Array


def _no_host_time(host: Array) -> bool:
    """Host times known to be all zero (numpy, not traced): then the critical path is the device's, exactly."""
    return isinstance(host, (np.ndarray, float, int)) and not np.any(host)


def segment(host_times: Array, device_times: Array, xp: Any) -> Segment:
    """Summarize ops run in this order (host_times[i] launches device_times[i]); ops along axis 0. Host times may
    be per op only (shape (n, 1, …)): they are the same for every case."""
    host = xp.asarray(host_times)
    device = xp.asarray(device_times)
    host_prefix = xp.cumsum(host, axis=0)
    device_suffix = xp.flip(xp.cumsum(xp.flip(device, axis=0), axis=0), axis=0)
    if _no_host_time(host):  # every suffix is ≤ the whole sum: the max is the first
        return Segment(host_prefix[-1], device_suffix[0], device_suffix[0])
    return Segment(host_prefix[-1], device_suffix[0], xp.max(host_prefix + device_suffix, axis=0))


def compose(first: Segment, second: Segment, xp: Any) -> Segment:
    """`first` then `second`."""
    if _no_host_time(first.host) and _no_host_time(second.host):  # the max below is its first term
        return Segment(first.host + second.host, first.device + second.device, first.critical + second.device)
    return Segment(
        first.host + second.host,
        first.device + second.device,
        xp.maximum(first.critical + second.device, first.host + second.critical),
    )


def repeat(one: Segment, times: int, xp: Any) -> Segment:
    """`one` run `times` times in a row (times ≥ 1)."""
    if _no_host_time(one.host):
        return Segment(one.host * times, one.device * times, one.critical + (times - 1) * one.device)
    return Segment(
        one.host * times,
        one.device * times,
        one.critical + (times - 1) * xp.maximum(one.host, one.device),
    )
