"""`python -m jlcompose`."""

from __future__ import annotations

from jlcompose.cli import main

raise SystemExit(main())
