"""`python -m flows.cli`: the `seqguard` command."""

import sys

from flows.cli import main

sys.exit(main())
