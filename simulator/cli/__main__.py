"""`python -m idealrt.simulator.cli` is `idealrt`."""

from idealrt.simulator.cli import run

run()
