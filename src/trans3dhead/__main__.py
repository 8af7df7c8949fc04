"""``python -m trans3dhead``: the same command line as the ``trans3dhead`` script."""

import sys

from trans3dhead.cli import main

sys.exit(main())
