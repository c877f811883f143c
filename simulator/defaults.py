"""Defaults every entry point shares (CLI, API, estimate inputs), so that one request gets one answer."""

from __future__ import annotations

# The profile fitted for the hardware, else `derated` (see `simulator.profile.resolve_profile`). `ideal`, the
# datasheet roofline, is a lower bound about 2× faster than measured stacks: a poor first answer.
DEFAULT_PROFILE = "auto"
