"""``python -m opsengine.cli``: the same as the ``opsengine`` console script."""

import sys

from opsengine.cli import main

sys.exit(main())
