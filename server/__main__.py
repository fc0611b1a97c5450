"""``python -m server`` is the ``witnesslink`` command."""

from server.cli import main

raise SystemExit(main())
