"""Where the shipped example files are, in a clone and in an installed package alike (they are package data)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def shipped_example(name_or_path: str) -> Path:
    """A path as given, or, when no such file exists, the shipped example of that name (with or without .yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (EXAMPLES_DIR / name_or_path, EXAMPLES_DIR / f"{name_or_path}.yaml"):
        if "/" not in name_or_path and candidate.is_file():
            return candidate
    return path
