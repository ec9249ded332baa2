"""``python -m aecompare``."""

import sys

from aecompare.cli import main

sys.exit(main())
