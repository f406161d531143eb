"""The ``streamframer`` command line (stdlib only): ``demo``, ``read``, ``query`` and ``send``."""

from ._main import main

__all__ = ["main"]
