"""Sphinx configuration: the API reference (autodoc) beside the Markdown pages (MyST).

Build: ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html`` (.ci/run does).
Every warning fails the build: a reference that resolves nowhere (nitpicky), a broken link to a
heading or a repository file, and a public name that no page documents (``check_reference``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The reference is built from the pure-Python core. Both cores have the same API and docstrings
# (tests/test_core_exports.py), but only the pure one gives inspect.signature() for every method
# on every supported Python; the page must show each method with its signature.
os.environ["STREAMFRAMER_NO_EXTENSIONS"] = "1"

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT / "src"), str(DOCS / "_ext")]

import streamframer  # noqa: E402

project = "streamframer"
author = "the streamframer authors"
copyright = "2026, the streamframer authors"
release = streamframer.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "myst_parser",
    "sphinx.ext.autosectionlabel",
    "project_docs",
]

# docs/*.md are GitHub pages too: they link to the README, to examples/ and tests/ by relative
# path, and to headings by GitHub's anchors. docs/_ext/project_docs.py makes such links
# point at the repository, after checking the file exists.
myst_heading_anchors = 4
# :ref:`index:The rule contract` from the reStructuredText pages.
autosectionlabel_prefix_document = True
repository_url = "https://github.com/streamframer/streamframer"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# The README is GitHub's front page first: its headings may skip a level (# then ###).
suppress_warnings = ["myst.header"]

nitpicky = True
# Names from typing's machinery and from anyio, whose documentation is not part of the inventory
# below; everything else must resolve.
nitpick_ignore_regex = [
    ("py:class", r"anyio\..*"),
    ("py:class", r"(typing\.)?(Protocol|TypeVar|Self)"),
]

autodoc_member_order = "bysource"
# Signatures name types as users write them after `from streamframer import ...`.
python_use_unqualified_type_names = True
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Members without a docstring are listed too (FramedWriter mirrors asyncio.StreamWriter): the
# reference shows every public name with its signature.
autodoc_default_options = {"members": True, "undoc-members": True}
# Signatures name the public aliases, not what they stand for (the modules use postponed
# annotations, which this needs).
autodoc_type_aliases = {name: f"streamframer.{name}" for name in ("Rule", "RuleResult", "Source")}

# The standard library's inventory. This machine reaches no documentation site, so the inventory
# comes from a local copy when there is one: Debian's python3.11-doc (which .ci/run installs), or
# the file PYTHON_INVENTORY names. Elsewhere (Read the Docs, a laptop) it is fetched as usual.
# Links point at the online documentation either way.
_inventories = [
    os.environ.get("PYTHON_INVENTORY", ""),
    "/usr/share/doc/python3.11/html/objects.inv",
]
intersphinx_mapping = {
    "python": (
        "https://docs.python.org/3",
        (*(path for path in _inventories if path and Path(path).is_file()), None),
    ),
}

html_theme = "furo"
html_title = f"streamframer {release}"
html_static_path: list[str] = []
