"""`python -m simulator.cli` is `idealrt`."""

from idealrt.simulator.cli import main

raise SystemExit(main())
