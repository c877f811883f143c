"""The uncertainty band shown with a prediction: the profile's own p10–p90 residual band, widened where the
profile has a validated end-to-end error on the hardware (`calibration/profiles/validated_error.yaml`).

A `derated` profile has no fit of its own on most hardware; its p10–p90 band is borrowed from the kernel profiles
and says nothing about how far off it is on, say, MI300X (67 % median on vLLM runs). The validated error does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from idealrt.hardware_specs.schema import HardwareSpec
from idealrt.simulator.files import read_mapping
from idealrt.simulator.profile import PROFILES_DIR, Profile

VALIDATED_ERROR_FILE = PROFILES_DIR / "validated_error.yaml"
_MAX_HIGH_FACTOR = 100.0  # an error ≥ 100 % has no finite upper bound; cap it so tables stay printable


@dataclass(frozen=True)
class Band:
    low_factor: float  # low end = prediction × low_factor
    high_factor: float
    source: str  # what the band is, in words

    def around(self, value: float) -> tuple[float, float]:
        return value * self.low_factor, value * self.high_factor

    def text(self) -> str:
        """'−40 % / +204 %' (relative to the prediction)."""
        return f"−{(1 - self.low_factor) * 100:.0f} % / +{(self.high_factor - 1) * 100:.0f} %"


@cache
def _validated_errors() -> dict[str, Any]:
    return read_mapping(VALIDATED_ERROR_FILE, "validated-error table") if VALIDATED_ERROR_FILE.exists() else {}


def validated_error(profile: Profile, hardware: HardwareSpec) -> tuple[float, str] | None:
    """(median |pred/meas − 1|, where it comes from) of this profile on this hardware, or None."""
    table = _validated_errors().get(profile.name)
    if table is None:
        return None
    validated: dict[str, dict[str, Any]] = table.get("validated", {})
    if hardware.id in validated:
        entry = validated[hardware.id]
        return float(entry["median_abs_error"]), f"validated on {hardware.id}: {entry['datasets']}"
    fallback = table.get("fallback", {})
    proxy = fallback.get(hardware.vendor, fallback.get("other"))
    if proxy is None or proxy not in validated:
        return None
    return float(validated[proxy]["median_abs_error"]), f"not validated on {hardware.id}; error of {proxy} used"


def prediction_band(profile: Profile, hardware: HardwareSpec) -> Band:
    """The band for a prediction of `profile` on `hardware` (zero width for `ideal`)."""
    low, high = math.exp(profile.fit.log_residual_p10), math.exp(profile.fit.log_residual_p90)
    source = "p10–p90 of the profile's held-out residuals" if profile.kind != "ideal" else "none (ideal roofline)"
    error = validated_error(profile, hardware)
    if error is not None:
        median, where = error
        validated_low = 1 / (1 + median)
        validated_high = 1 / (1 - median) if median < 1 else _MAX_HIGH_FACTOR
        if validated_low < low or validated_high > high:
            low, high = min(low, validated_low), max(high, validated_high)
            source = f"the {median:.0%} median end-to-end error of '{profile.name}' ({where})"
        else:
            source += f", wider than the {median:.0%} median end-to-end error ({where})"
    return Band(low, high, source)
