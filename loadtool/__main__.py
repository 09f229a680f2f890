"""``python -m loadtool``: see :mod:`loadtool.load`."""

import sys

from loadtool.load import main

sys.exit(main())
