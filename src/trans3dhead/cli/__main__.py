import sys

from trans3dhead.cli import main

sys.exit(main())
