"""Dollars and joules of a request from its runtime: runtime × devices × price (or power).

Input tokens are charged the prefill time and output tokens the decode time, so the per-1M-token prices of the
two kinds add up to the request's cost. Energy: `energy_j` assumes every device draws its TDP for the whole
runtime (an upper bound); `energy_busy_j` charges TDP only while a device computes (utilization = busy/total,
a fraction in [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.errors import UserError

SECONDS_PER_HOUR = 3600.0
MILLION = 1e6


@dataclass(frozen=True)
class RequestCost:
    runtime_s: float
    n_accelerators: int
    price_usd_per_device_hour: float
    usd: float
    usd_per_million_input_tokens: float | None  # None when the request has no such tokens
    usd_per_million_output_tokens: float | None
    usd_per_million_tokens: float  # input and output together
    utilization: float  # fraction of the runtime the devices compute
    energy_j: float | None  # None when the spec has no TDP
    energy_busy_j: float | None


def device_price(hardware: HardwareSpec, override_usd_per_hour: float | None = None) -> float:
    if override_usd_per_hour is not None:
        if override_usd_per_hour <= 0:
            raise UserError(f"price per device-hour must be > 0 (got {override_usd_per_hour})")
        return override_usd_per_hour
    if hardware.price_usd_per_hour is None:
        raise UserError(
            f"{hardware.id}: no price: pass --price-usd-per-hour (the catalog has no dated, sourced on-demand price"
            " for it)"
        )
    return hardware.price_usd_per_hour


def request_cost(
    hardware: HardwareSpec,
    n_accelerators: int,
    prefill_s: float,
    decode_s: float,
    input_tokens: int,
    output_tokens: int,
    busy_s: float | None = None,
    price_usd_per_hour: float | None = None,
) -> RequestCost:
    price = device_price(hardware, price_usd_per_hour)
    runtime = prefill_s + decode_s
    usd_per_second = n_accelerators * price / SECONDS_PER_HOUR
    utilization = 1.0 if busy_s is None or runtime == 0 else min(busy_s / runtime, 1.0)
    power = None if hardware.tdp_w is None else hardware.tdp_w * n_accelerators
    return RequestCost(
        runtime_s=runtime,
        n_accelerators=n_accelerators,
        price_usd_per_device_hour=price,
        usd=runtime * usd_per_second,
        usd_per_million_input_tokens=prefill_s * usd_per_second / input_tokens * MILLION if input_tokens else None,
        usd_per_million_output_tokens=decode_s * usd_per_second / output_tokens * MILLION if output_tokens else None,
        usd_per_million_tokens=runtime * usd_per_second / (input_tokens + output_tokens) * MILLION,
        utilization=utilization,
        energy_j=None if power is None else runtime * power,
        energy_busy_j=None if power is None else runtime * utilization * power,
    )
