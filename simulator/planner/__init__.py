"""Answers built on the simulator: the paper's idealized runtime, cost and energy, planning and capacity."""
