"""`python -m simulator.cli` is `idealrt`."""

from simulator.cli import main

raise SystemExit(main())
