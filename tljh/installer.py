"""``python -m tljh.installer``: how the bootstrap (ours and upstream's) starts the installer.

The installer itself is :mod:`tljh.install`; its command line is
:mod:`tljh.cli.installer`.
"""

from __future__ import annotations

import sys

from tljh.cli.installer import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(run())
