"""From the datasheet roofline to a calibrated prediction: where the extra time of one configuration comes from.

Four parts, per phase, that add up exactly to the calibrated time:
  roofline              the ideal profile's time of the compute and memory ops (GEMM, attention, elementwise)
  kernel_inefficiency   the calibrated time of those ops without their fixed latencies, minus the roofline
  launch_host_overhead  their fixed kernel latencies plus the time the device waits for the host
  communication         the calibrated time of the collectives (latency and bandwidth terms)
Both simulations use the same counts (the stack's behaviours are resolved once, by `counting_options`, from the
calibrated profile).
"""

from __future__ import annotations

import pandas as pd

from idealrt.simulator.counting import counting_options
from idealrt.simulator.deployment import Deployment
from idealrt.simulator.profile import IDEAL, Profile
from idealrt.simulator.report import host_overhead_s, op_rows
from idealrt.simulator.simulation import Simulation, simulate

PARTS = ("roofline", "kernel_inefficiency", "launch_host_overhead", "communication")
PHASE_COLUMNS = {"prefill": "prefill_s", "decode": "decode_s"}


def ideal_to_calibrated(
    deployment: Deployment,
    profile: Profile,
    batch: int,
    prompt: int,
    output: int,
    lm_head_all_positions: bool | None = None,
    naive_attention: bool = False,
) -> pd.DataFrame:
    """Rows PARTS, columns prefill_s, decode_s (all output − 1 steps) and e2e_s; the e2e_s column sums to the
    calibrated e2e. Rows carry a `share` of e2e."""
    options = counting_options(profile, naive_attention, lm_head_all_positions)  # both runs count the same kernels
    calibrated = simulate(deployment, profile, batch, prompt, output, options=options)
    ideal = simulate(deployment, IDEAL, batch, prompt, output, options=options)
    frame = pd.DataFrame(index=pd.Index(PARTS, name="part"))
    for phase, column in PHASE_COLUMNS.items():
        frame[column] = pd.Series(_phase_parts(calibrated, ideal, phase))
    frame["e2e_s"] = frame["prefill_s"] + frame["decode_s"]
    frame["share"] = frame["e2e_s"] / frame["e2e_s"].sum()
    return frame


def _phase_parts(calibrated: Simulation, ideal: Simulation, phase: str) -> dict[str, float]:
    calibrated_rows = [row for row in op_rows(calibrated) if row["phase"] == phase]
    ideal_rows = [row for row in op_rows(ideal) if row["phase"] == phase]
    if phase == "prefill":
        host_idle = host_overhead_s(calibrated.prefill, 0)
    else:
        host_idle = host_overhead_s(calibrated.decode, 0, calibrated.decode_step_weights[0])
    kernels = [row for row in calibrated_rows if row["op_class"] != "collective"]
    roofline = sum(row["time_s"] for row in ideal_rows if row["op_class"] != "collective")
    latencies = sum(row["overhead_s"] for row in kernels)
    return {
        "roofline": roofline,
        "kernel_inefficiency": sum(row["time_s"] for row in kernels) - latencies - roofline,
        "launch_host_overhead": latencies + host_idle,
        "communication": sum(row["time_s"] for row in calibrated_rows if row["op_class"] == "collective"),
    }
