"""Rebuild the shipped profiles in calibration/profiles/ from the shipped datasets: `make profiles`.

Order matters: the A100 kernel profile lends the H100 one its decode-attention constants (no H100 decode data)
and is the base of the Megatron end-to-end fit; `derated` derives from both kernel profiles.
"""

from __future__ import annotations

import sys
import time

from idealrt.calibration.recipes import derated_profile, kernel_profile, megatron_profile
from idealrt.simulator.profile import PROFILES_DIR, write_profile

COMMAND = "make profiles  # python -m calibration.build_profiles"
DECODE_ATTENTION = (
    "attention.decode_bandwidth_fraction",
    "attention.decode_context_half",
    "attention.kernel_latency_s",
)


def main(argv: list[str] | None = None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])  # "kernels-only": keep the shipped Megatron profile
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {message}", flush=True)

    a100, _ = kernel_profile("a100-sxm-80gb", command=COMMAND)
    log(f"a100-sxm-80gb-kernels: held-out median error {a100.fit.held_out_median_abs_error:.1%}")
    h100, _ = kernel_profile(
        "h100-sxm", command=COMMAND, borrowed={name: a100.params()[name] for name in DECODE_ATTENTION}
    )
    log(f"h100-sxm-kernels: held-out median error {h100.fit.held_out_median_abs_error:.1%}")
    derated = derated_profile([a100, h100], command=COMMAND)
    profiles = [a100, h100, derated]
    if "kernels-only" not in only:
        megatron, _ = megatron_profile(a100, command=COMMAND)
        log(f"megatron-a100-2022: leave-one-model-out median error {megatron.fit.held_out_median_abs_error:.1%}")
        profiles.append(megatron)
    for profile in profiles:
        write_profile(profile, PROFILES_DIR / f"{profile.name}.json")
        log(f"wrote {PROFILES_DIR / (profile.name + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
