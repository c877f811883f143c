"""Tables that put hardware side by side say when their rows come from different profiles: a fitted profile and
`derated` differ by more than many hardware generations do, so a ranking across them is partly a ranking of
the profiles."""

from __future__ import annotations

import pandas as pd


def profile_mix_warning(frame: pd.DataFrame) -> str | None:
    """One line naming the profile of each hardware when the rows use more than one profile; else None."""
    if frame.empty or frame["profile"].nunique() <= 1:
        return None
    per_hardware = frame.drop_duplicates("hardware")[["hardware", "profile"]]
    listing = ", ".join(f"{row.hardware}: {row.profile}" for row in per_hardware.itertuples())
    return (
        f"rows mix profiles ({listing}): differences between hardware are partly differences between the profiles;"
        " compare the bands, not only the estimates"
    )
