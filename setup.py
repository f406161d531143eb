"""Builds the optional compiled core, streamframer._core._ccore.

Everything else is in pyproject.toml. The extension is optional: without a compiler, on PyPy, or
with STREAMFRAMER_NO_EXTENSIONS set, the package installs pure Python and works the same
(``streamframer.IMPLEMENTATION`` says which core is in use).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCES = [
    "module.c",
    "manager.c",
    "framing.c",
    "limits.c",
    "rulecall.c",
    "frame.c",
    "reads.c",
    "storage.c",
    "span.c",
    "rules.c",
    "steps.c",
]


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure package when the compiler fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._skip(exc)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    def _skip(self, exc: Exception) -> None:
        print(
            f"warning: the compiled core of streamframer was not built ({exc}); "
            "installing the pure-Python core, which behaves the same, only slower",
            file=sys.stderr,
        )


def extensions() -> list[Extension]:
    if os.environ.get("STREAMFRAMER_NO_EXTENSIONS"):
        return []
    if platform.python_implementation() != "CPython":
        return []
    extra = ["-std=c99"] if os.name != "nt" else []
    return [
        Extension(
            "streamframer._core._ccore",
            sources=[f"src/streamframer/_core/_c/{name}" for name in SOURCES],
            depends=[f"src/streamframer/_core/_c/{name}" for name in ("core.h", "docs.h")],
            extra_compile_args=extra + os.environ.get("STREAMFRAMER_CFLAGS", "").split(),
            extra_link_args=os.environ.get("STREAMFRAMER_LDFLAGS", "").split(),
        )
    ]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
