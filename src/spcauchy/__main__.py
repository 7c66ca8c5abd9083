"""`python -m spcauchy` (and `torchrun -m spcauchy`) is the `spcauchy` command."""

from .experiments.cli import main

raise SystemExit(main())
