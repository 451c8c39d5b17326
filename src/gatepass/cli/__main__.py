"""``python -m gatepass.cli``."""

from gatepass.cli import main

raise SystemExit(main())
