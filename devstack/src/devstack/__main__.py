"""`python -m devstack run`: see devstack.cli."""

import sys

from devstack.cli import main

sys.exit(main())
