"""`compare`: one request side by side across hardware, each on the fewest devices that hold it (tp inside a
server, then pipeline stages; `placement.fewest_devices`) unless a layout is given, with its profile, band and
cost (`plan.configuration_row`, so the fields are those of `plan --json`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from idealrt.simulator.context_limits import context_overflow
from idealrt.simulator.defaults import DEFAULT_PROFILE
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.errors import UserError
from idealrt.simulator.hardware import load_hardware
from idealrt.simulator.model.catalog import load_model
from idealrt.simulator.placement import fewest_devices
from idealrt.simulator.planner.plan import configuration_row, memory_needed
from idealrt.simulator.planner.prices import PriceOverride, price_for, unknown_priced_hardware
from idealrt.simulator.planner.profile_mix import profile_mix_warning
from idealrt.simulator.profile import resolve_profile


@dataclass(frozen=True)
class Layout:
    """A parallelism given by the user; None: the fewest devices that hold the request."""

    tp: int = 1
    pp: int = 1
    ep: int = 1


def compare_frame(
    model: str,
    hardware: list[str],
    prompt: int,
    output: int,
    batch: int = 1,
    layout: Layout | None = None,
    profile: str = DEFAULT_PROFILE,
    weights_dtype: str = "bf16",
    act_dtype: str | None = None,
    kv_dtype: str | None = None,
    price_usd_per_hour: PriceOverride = None,
    allow_longer_context: bool = False,
) -> pd.DataFrame:
    """One row per hardware, in the order given. `attrs["notes"]`: the profile per hardware and the hardware
    on which nothing fits; `attrs["warnings"]`: mixed profiles, a request beyond the model's context (allowed).
    Raises UserError when the request fits on none of them."""
    for name, value in (("prompt", prompt), ("output", output), ("batch", batch)):
        if value < 1:
            raise UserError(f"--{name} must be ≥ 1 (got {value})")
    if not hardware:
        raise UserError("--hardware: give at least one catalog id (comma-separated)")
    spec = load_model(model)
    context_warning = context_overflow(spec, prompt, output, allow_longer=allow_longer_context)
    devices = [load_hardware(hardware_id) for hardware_id in hardware]
    unknown_priced_hardware(price_usd_per_hour, [device.id for device in devices])
    rows, notes, misses = [], [], []
    for device in devices:
        chosen, note = resolve_profile(profile, device)
        notes.append(f"{device.id}: {note}")
        given = layout or Layout()
        start = Deployment(
            spec,
            device,
            tp=given.tp,
            pp=given.pp,
            ep=given.ep,
            weights_dtype=weights_dtype,
            act_dtype=act_dtype,
            kv_dtype=kv_dtype,
        )
        placed = start if layout is not None else fewest_devices(start, chosen, batch, prompt, output)
        row = None
        if placed is not None:
            row = configuration_row(placed, chosen, batch, prompt, output, price_for(price_usd_per_hour, device.id))
        if row is None or not row["fits"]:
            where = f"tp={given.tp} pp={given.pp} ep={given.ep}" if layout is not None else "any layout"
            misses.append(f"{device.id}: does not fit ({where}); {memory_needed(start, chosen, batch, prompt, output)}")
            continue
        rows.append(row)
    if not rows:
        raise UserError("; ".join(misses))
    frame = pd.DataFrame(rows)
    frame.attrs["notes"] = notes + misses
    frame.attrs["warnings"] = [w for w in (context_warning, profile_mix_warning(frame)) if w is not None]
    return frame
