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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
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


@dataclass(frozen=True)
class GemmGeometry:
    """What a GEMM's discrete shape effects depend on, from the hardware spec: the SMs output tiles spread over,
    the tile shapes (M × N) the kernels choose among, and the element count K and N must be multiples of for the
    tensor-core path (alignment bytes / bytes of the math dtype). A CPU's has no tiles: only the element count
    N must be a multiple of for its SIMD micro-kernels (`vector_alignment_factor`)."""

    processors: int
    tiles: tuple[tuple[int, int], ...]  # empty on a CPU
    alignment_elements: float


def tile_efficiency(m: Array, n: Array, k: Array, geometry: GemmGeometry, p: Params, xp: Any) -> Array:
    """The efficiency of the best tile. Useful work is M·N·(K + k_half): each tile's K pipeline has a fill and
    drain worth `k_half` steps of K. Billed work pads M and N to whole tiles and the tiles to whole waves over the
    SMs; few tiles (small M or N) leave SMs idle unless split-K cuts K into at most as many slices as fill them,
    each billed at least `split_k_min_depth` deep (and its own fill). A share e = `padding_exponent` ∈ [0, 1] of
    the time follows billed work, the rest the smooth curve in M and N: time ∝ smooth^(1−e)·billed^e with
    smooth = (M + m_half)·(N + n_half)·(K + k_half). Both are non-decreasing in M, N and K, so each tile's time is,
    and so is the best tile's (a minimum of such). 1 for the ideal profile."""
    k_fill, exponent = p["gemm.k_half"], p["gemm.padding_exponent"]
    smooth_m_n = _saturation(m, p["gemm.m_half"], xp) * _saturation(n, p["gemm.n_half"], xp)
    if xp is np and float(exponent) == 0.0:  # padding costs nothing: the best tile is the one that reuses most
        reuse_most = max(_reuse(tile_m, tile_n, p) for tile_m, tile_n in geometry.tiles)
        return reuse_most * smooth_m_n * _saturation(k, k_fill, xp)
    useful = m * n * (k + k_fill)
    # numpy, e not tiny: max_t reuse_t·(useful/billed_t)^e = (useful·max_t reuse_t^(1/e)/billed_t)^e, one power
    # instead of one per tile (the fitter's traced e keeps the form below, differentiable down to e = 0).
    one_power = xp is np and float(exponent) >= 0.05  # reuse^(1/e) stays far from underflow
    best = _best_tile_by_rows(m, n, k, geometry, p) if one_power else None
    if best is None:
        best = 0.0 * m
        tile_rows: dict[int, Array] = {}  # M in whole tiles, per tile height
        for tile_m, tile_n in geometry.tiles:
            if tile_m not in tile_rows:
                tile_rows[tile_m] = xp.ceil(m / tile_m)
            billed = _billed_work(tile_rows[tile_m], n, k, tile_m, tile_n, geometry, p, xp)
            if one_power:
                best = np.maximum(best, _reuse(tile_m, tile_n, p) ** (1.0 / exponent) / billed)
            else:
                best = xp.maximum(best, _reuse(tile_m, tile_n, p) / (billed / useful) ** exponent)
    if one_power:
        best = (best * useful) ** exponent
    return best * smooth_m_n ** (1.0 - exponent) * _saturation(k, k_fill, xp)


def _reuse(tile_m: int, tile_n: int, p: Params) -> Array:
    """Operand reuse of a tile shape: smaller tiles load each operand element for fewer products."""
    return 1.0 / (1.0 + p["gemm.tile_overhead"] * (1.0 / tile_m + 1.0 / tile_n))


def _billed_work(
    rows: Array, n: Array, k: Array, tile_m: int, tile_n: int, geometry: GemmGeometry, p: Params, xp: Any
) -> Array:
    """The work a GEMM of `rows` tiles down M is billed for with tiles of tile_m × tile_n (`tile_efficiency`)."""
    processors = geometry.processors
    tiles = rows * xp.ceil(n / tile_n)
    most_splits = xp.floor(processors / tiles)  # slices that still fit in one wave
    # K cut into most_splits slices (none below 2: then k / 1 = k, and the min below keeps k)
    depth = xp.minimum(k, xp.maximum(k / xp.maximum(most_splits, 1.0), p["gemm.split_k_min_depth"]))
    waves = xp.ceil(tiles / processors)
    return waves * (processors * tile_m * tile_n) * (depth + p["gemm.k_half"])  # whole numbers until the last factor


def _best_tile_by_rows(m: Array, n: Array, k: Array, geometry: GemmGeometry, p: Params) -> Array | None:
    """max_t reuse_t^(1/e) / billed_t as `tile_efficiency` computes it, but tabulated once per op over the few
    values M takes in whole tiles of the smallest height (a decode step's M is a batch), then looked up: the same
    numbers from fewer operations. None where that does not pay or does not hold: M not whole numbers (a MoE
    expert's expected tokens), N or K not one column per op, tile heights not multiples of the smallest."""
    ops = m.shape[0] if np.ndim(m) >= 2 else 0
    column = (ops,) + (1,) * (np.ndim(m) - 1)
    heights = [tile_m for tile_m, _ in geometry.tiles]
    base = min(heights)
    if not ops or np.shape(n) != column or np.shape(k) != column or any(height % base for height in heights):
        return None
    rows = np.ceil(m / base)
    most_rows = int(rows.max())
    if most_rows * ops * 4 > m.size or rows.min() < 1 or not np.array_equal(m, np.floor(m)):
        return None
    # For whole-number M, ceil(M / (q·base)) = ceil(ceil(M / base) / q): every tile height's rows from one axis.
    axis = np.arange(1.0, most_rows + 1.0)[None, :]
    n_column, k_column = np.reshape(n, (ops, 1)), np.reshape(k, (ops, 1))
    table = np.zeros((ops, most_rows))
    exponent = float(p["gemm.padding_exponent"])
    for tile_m, tile_n in geometry.tiles:
        tile_rows = axis if tile_m == base else np.ceil(axis / (tile_m // base))
        billed = _billed_work(tile_rows, n_column, k_column, tile_m, tile_n, geometry, p, np)
        table = np.maximum(table, _reuse(tile_m, tile_n, p) ** (1.0 / exponent) / billed)
    index = (rows.reshape(ops, -1) - 1).astype(np.intp)
    return np.take_along_axis(table, index, axis=1).reshape(np.shape(m))


def alignment_factor(n: Array, k: Array, geometry: GemmGeometry, p: Params, xp: Any) -> Array:
    """`gemm.unaligned_fraction` when K or N is not a multiple of the tensor-core alignment, and
    `gemm.power_of_two_k_fraction` when K (the stride of both operands' rows) is a power of two: such strides map
    every row to the same memory partitions and cache sets ("partition camping"). 1 for the ideal profile."""
    if xp is np and p["gemm.unaligned_fraction"] == 1.0 and p["gemm.power_of_two_k_fraction"] == 1.0:
        return 1.0
    step = geometry.alignment_elements
    aligned = (xp.remainder(n, step) == 0) & (xp.remainder(k, step) == 0)
    power_of_two = xp.abs(k - xp.exp2(xp.round(xp.log2(k)))) < 0.5  # robust to an inexact log2
    return xp.where(aligned, 1.0, p["gemm.unaligned_fraction"]) * xp.where(
        power_of_two & (k >= step), p["gemm.power_of_two_k_fraction"], 1.0
    )


def vector_alignment_factor(n: Array, geometry: GemmGeometry, p: Params, xp: Any) -> Array:
    """`gemm.unaligned_fraction` when N is not a multiple of the SIMD width: a CPU GEMM builds its output from
    micro-tiles whole vectors of N wide and finishes the rest on a slower edge path (on this project's AVX2
    machine, fp32 N = 4095 or 2047 runs at 0.55-0.72 of N = 4096, 4088 or 2040; an unaligned K costs nothing).
    1 for the ideal profile."""
    if xp is np and p["gemm.unaligned_fraction"] == 1.0:
        return 1.0
    return xp.where(xp.remainder(n, geometry.alignment_elements) == 0, 1.0, p["gemm.unaligned_fraction"])


def matrix_vector_factor(m: Array, k: Array, p: Params, xp: Any) -> Array:
    """Memory time of a matrix–vector product (M ≤ 1) relative to the GEMM path's (`GemmModel`); 1 for M > 1."""
    fraction, k_half = p["gemm.matrix_vector_fraction"], p["gemm.matrix_vector_k_half"]
    if xp is np and fraction == 1.0 and k_half == 0.0:
        return 1.0
    return xp.where(m <= 1.0, fraction * (k + k_half) / k, 1.0)


def gemm_time(
    flops: Array,
    bytes_moved: Array,
    m: Array,
    n: Array,
    k: Array,
    peak: Array,
    bandwidth: Array,
    p: Params,
    xp: Any,
    geometry: GemmGeometry | None = None,
) -> OpTime:
    """`geometry` None (a spec without SMs or tiles): the smooth curve in M, N and K alone. With a geometry,
    `tile_efficiency` blends it with the tile model so that time never falls as M, N or K grow (apart from the
    alignment and partition-camping factors, measured effects of N and K's divisibility)."""
    if geometry is None or not geometry.tiles:
        efficiency = (
            p["gemm.peak_fraction"]
            * _saturation(m, p["gemm.m_half"], xp)
            * _saturation(n, p["gemm.n_half"], xp)
            * _saturation(k, p["gemm.k_half"], xp)
        )
        if geometry is not None:
            efficiency = efficiency * vector_alignment_factor(n, geometry, p, xp)
    else:
        efficiency = (
            p["gemm.peak_fraction"]
            * tile_efficiency(m, n, k, geometry, p, xp)
            * alignment_factor(n, k, geometry, p, xp)
        )
    compute = flops / (peak * efficiency)
    memory = bytes_moved / (bandwidth * p["gemm.bandwidth_fraction"])
    memory = memory * matrix_vector_factor(m, k, p, xp)
    latency = p["gemm.kernel_latency_s"] + 0 * flops
    return OpTime(
        latency + overlapped(compute, memory, p["gemm.overlap_fraction"], xp), compute, memory, 0 * flops, latency
    )


def overlapped(compute: Array, memory: Array, overlap_fraction: float, xp: Any) -> Array:
    """The longer of compute and memory time, plus the part of the shorter the kernel does not hide under it."""
    if xp is np and overlap_fraction == 1.0:
        return xp.maximum(compute, memory)
    return xp.maximum(compute, memory) + (1.0 - overlap_fraction) * xp.minimum(compute, memory)


def attention_time(
    flops: Array,
    bytes_moved: Array,
    new_tokens: Array,
    context: Array,
    decode: bool,
    peak: Array,
    bandwidth: Array,
    p: Params,
    xp: Any,
    *,
    cache_bytes: Array,
) -> OpTime:
    """`cache_bytes`: the part of `bytes_moved` that is the KV-cache read (decode streams it at a rate growing
    with the context; the query and output move at the plain decode rate)."""
    if decode:
        compute = flops / (peak * p["attention.decode_peak_fraction"])
        rate = bandwidth * p["attention.decode_bandwidth_fraction"]
        cache_rate = rate * _saturation(context, p["attention.decode_context_half"], xp)
        memory = cache_bytes / cache_rate + (bytes_moved - cache_bytes) / rate
    else:
        compute = flops / (
            peak * p["attention.prefill_peak_fraction"] * _saturation(new_tokens, p["attention.prefill_seq_half"], xp)
        )
        memory = bytes_moved / bandwidth
    latency = p["attention.kernel_latency_s"] + 0 * flops
    return OpTime(latency + xp.maximum(compute, memory), compute, memory, 0 * flops, latency)


@dataclass(frozen=True)
class CacheLevel:
    """A cache whose bandwidth an elementwise op gets when its operands fit (`HardwareSpec.cache_resident_bytes`):
    they are activations the previous op has just written."""

    resident_bytes: float
    bandwidth: float  # bytes/s


def elementwise_time(
    flops: Array,
    bytes_moved: Array,
    peak: Array,
    bandwidth: Array,
    p: Params,
    xp: Any,
    composite_s: Array = 0.0,
    cache: CacheLevel | None = None,
) -> OpTime:
    """`composite_s`: each op's fixed cost beyond one kernel (`composite_latency`)."""
    compute = flops / (peak * p["elementwise.compute_fraction"])
    if cache is not None:
        bandwidth = xp.where(bytes_moved <= cache.resident_bytes, cache.bandwidth, bandwidth)
    memory = bytes_moved / (bandwidth * p["elementwise.bandwidth_fraction"])
    latency = p["elementwise.kernel_latency_s"] + composite_s + 0 * flops
    return OpTime(latency + xp.maximum(compute, memory), compute, memory, 0 * flops, latency)


def composite_extra_s(eager_kind: str | None, p: Params) -> Any:
    """The fixed cost of an op's eager implementation beyond one kernel (`ElementwiseModel`)."""
    return 0.0 if eager_kind is None else p[f"elementwise.{eager_kind}_extra_s"]


def composite_latency(eager_kinds: Sequence[str | None], p: Params, xp: Any) -> Array:
    """`composite_extra_s` per op; 0.0 when every op's is zero (a fused stack), so that the result is exactly the
    plain formula's."""
    extras = [composite_extra_s(kind, p) for kind in eager_kinds]
    if xp is np and not any(extras):
        return 0.0
    return xp.stack([xp.asarray(extra) for extra in extras])


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


def known_zero(value: Array) -> bool:
    """Times known to be all zero (numpy or Python numbers, not traced): no host time leaves the critical path the
    device's, exactly, and a segment of none changes nothing."""
    return isinstance(value, (np.ndarray, float, int)) and not np.any(value)


def segment(host_times: Array, device_times: Array, xp: Any) -> Segment:
    """Summarize ops run in this order (host_times[i] launches device_times[i]); ops along axis 0. Host times may
    be per op only (shape (n, 1, …)): they are the same for every case."""
    host = xp.asarray(host_times)
    device = xp.asarray(device_times)
    if known_zero(host):  # every suffix is ≤ the whole sum: the max is the first
        device_total = reduce(xp.add, device[::-1])  # last op first, as the suffix sums below add them
        return Segment(xp.sum(host, axis=0), device_total, device_total)
    host_prefix = xp.cumsum(host, axis=0)
    if xp is np:  # the same sums as below, op by op from the last: no (ops, cases) temporaries
        suffix = device[-1]
        critical = host_prefix[-1] + suffix
        for index in range(len(device) - 2, -1, -1):
            suffix = suffix + device[index]
            critical = np.maximum(critical, host_prefix[index] + suffix)
        return Segment(host_prefix[-1], suffix, critical)
    device_suffix = xp.flip(xp.cumsum(xp.flip(device, axis=0), axis=0), axis=0)
    return Segment(host_prefix[-1], device_suffix[0], xp.max(host_prefix + device_suffix, axis=0))


def compose(first: Segment, second: Segment, xp: Any) -> Segment:
    """`first` then `second`."""
    if known_zero(first.host) and known_zero(second.host):  # the max below is its first term
        return Segment(first.host + second.host, first.device + second.device, first.critical + second.device)
    return Segment(
        first.host + second.host,
        first.device + second.device,
        xp.maximum(first.critical + second.device, first.host + second.critical),
    )


def repeat(one: Segment, times: int, xp: Any) -> Segment:
    """`one` run `times` times in a row (times ≥ 1)."""
    if known_zero(one.host):
        return Segment(one.host * times, one.device * times, one.critical + (times - 1) * one.device)
    return Segment(
        one.host * times,
        one.device * times,
        one.critical + (times - 1) * xp.maximum(one.host, one.device),
    )
