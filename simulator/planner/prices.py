"""Prices a user gives for device-hours: one price for every hardware, or one per hardware id.

`--price-usd-per-hour 2.1` prices every listed hardware at $2.10 per device-hour; `--price-usd-per-hour
mi300x=2.1,h100-sxm=3.0` prices those two and leaves the others at their catalog price.
"""

from __future__ import annotations

from collections.abc import Mapping

from idealrt.simulator.errors import UserError

PriceOverride = float | Mapping[str, float] | None


def parse_price_argument(text: str | None) -> PriceOverride:
    """The command-line value as a price, a {hardware id: price} mapping, or None."""
    if text is None or not text.strip():
        return None
    if "=" not in text:
        return _price(text, "--price-usd-per-hour")
    prices: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        hardware, sep, value = item.partition("=")
        if not sep or not hardware.strip():
            raise UserError(f"--price-usd-per-hour: '{item}' is not HARDWARE=USD (e.g. mi300x=2.1)")
        prices[hardware.strip()] = _price(value, f"--price-usd-per-hour {hardware.strip()}")
    return prices


def price_for(override: PriceOverride, hardware_id: str) -> float | None:
    """The user's price for this hardware, or None (use the catalog's)."""
    if override is None:
        return None
    if isinstance(override, Mapping):
        return override.get(hardware_id)
    return float(override)


def unknown_priced_hardware(override: PriceOverride, hardware_ids: list[str]) -> None:
    """A per-hardware price for hardware that is not being compared is a typo: say so."""
    if isinstance(override, Mapping):
        extra = sorted(set(override) - set(hardware_ids))
        if extra:
            raise UserError(
                f"--price-usd-per-hour names {', '.join(extra)}, not among --hardware {','.join(hardware_ids)}"
            )


def _price(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{what}: '{text.strip()}' is not a number of US dollars per device-hour") from None
    if not value > 0:
        raise UserError(f"{what} must be > 0 (got {text.strip()})")
    return value
