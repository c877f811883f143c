"""Fitting profile constants to measurements with jax: predictions through the simulator's own timing code."""
