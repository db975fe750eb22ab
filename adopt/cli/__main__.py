"""``python -m adopt.cli``: the `adopt` command."""

import sys

from adopt.cli import main

sys.exit(main())
