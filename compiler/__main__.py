"""``python -m sparsile``: the same as the ``sparsile`` command."""

from .cli import main

raise SystemExit(main())
