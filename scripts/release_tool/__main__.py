"""`python -m release_tool ...` (scripts/ on PYTHONPATH): see cli.py."""

import sys

from release_tool.cli import main

sys.exit(main())
