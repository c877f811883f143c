"""Figures (PNG) of simulations and planner results, one module per figure, each `plot_*(…, path) -> Path`.

Drawn with matplotlib's Agg renderer on `Figure` objects (no pyplot, no global state, no display needed). Nothing
here is imported at CLI start-up: commands import a plot module only when a plot is asked for.
"""
