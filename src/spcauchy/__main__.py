"""`python -m spcauchy` is the same as the `spcauchy` command."""

from .cli import main

raise SystemExit(main())
