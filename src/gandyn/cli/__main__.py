"""``python -m gandyn.cli``: the ``gandyn`` command."""

import sys

from . import main

sys.exit(main())
