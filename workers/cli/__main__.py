"""``python -m workers.cli``: the same entry point as the ``sohoa`` console script."""

import sys

from workers.cli.main import main

sys.exit(main())
