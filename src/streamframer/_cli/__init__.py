"""The ``streamframer`` command line (stdlib only): ``demo``, ``read`` and ``query``."""

from ._main import main

__all__ = ["main"]
