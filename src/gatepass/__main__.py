"""``python -m gatepass``: the ``gatepass`` command line."""

from gatepass.cli import main

raise SystemExit(main())
