"""``python -m workers.cli``: the same entry point as the ``sohoa`` console script."""

import sys

from workers.cli.main import main

if __name__ == "__main__":  # a forkserver child imports this module too: it must not run
    sys.exit(main())
