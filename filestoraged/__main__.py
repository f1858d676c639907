"""``python -m filestoraged``: the same as the ``filestoraged`` command."""

import sys

from .cli import main

sys.exit(main())
