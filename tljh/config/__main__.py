"""``python3 -m tljh.config ARGS``: ``tljh-config ARGS``, as with upstream TLJH."""

import sys

from tljh.config import main

sys.exit(main())
