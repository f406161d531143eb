"""Two checks and one translation that make the Markdown pages work as a site.

* Links: docs/*.md and the README are read on GitHub too, so they link to repository files by
  relative path (``../examples/tls_lines.py``) and the README links to the pages by absolute
  address. Before parsing, a link to a page of the site becomes a link to that page, and a
  link to another repository file one to the file on GitHub; a link to a file that does not
  exist is a warning, so it fails the build.
* Reference: every name in the ``__all__`` of a documented module is documented on some page.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

from docutils.nodes import Element
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.ext.autodoc.preserve_defaults import update_defvalue
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.inspect import signature as inspect_signature
from sphinx.util.inspect import stringify_signature

logger = logging.getLogger(__name__)

#: Modules whose every public name (``__all__``) must have an entry in the reference.
PUBLIC_MODULES = ("streamframer", "streamframer.aio", "streamframer.anyio")

#: Standard library names that modules import only for the type checker, as they appear in
#: signatures.
STDLIB_SHORT_NAMES = {"SSLContext": "ssl.SSLContext"}
#: asyncio's classes name their defining submodule; its documentation names the package.
_ASYNCIO_SUBMODULES = ("asyncio.protocols.", "asyncio.transports.")

#: Names that signatures show but no page documents: the classes of the objects the rule
#: builders return (the builder is the public name; its docstring says what the object does),
#: streamframer.aio's aliases for a connection handler's type and a device, and anyio's stream
#: type (anyio's inventory is not at hand offline). They are shown unlinked.
_UNLINKED = {"Handler", "Device", "ByteReceiveStream"}
_PRIVATE_PATH = re.compile(r"\bstreamframer\.(?:_\w+\.)+(\w+)")
_PUBLIC_NAMES: dict[type, str] = {}  # public classes: the name users import
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _site_link(app: Sphinx, document: Path, docname: str, target: str) -> str | None:
    """The link to write instead of ``target`` (a link in ``document``, read for the page
    ``docname``), or None to keep it."""
    root = Path(app.srcdir).parent
    pages = f"{app.config.repository_url}/blob/main/{Path(app.srcdir).name}/"
    if target.startswith(pages):  # the README's absolute link to a page: the page itself
        target = target[len(pages) :]
        if (Path(app.srcdir) / target.partition("#")[0]).is_file():
            return target
        logger.warning("link to a missing page: %s", target, location=docname)
        return None
    if "://" in target or target.startswith(("#", "mailto:")):
        return None
    path, _, anchor = target.partition("#")
    file = (document.parent / path).resolve()
    if file.is_relative_to(Path(app.srcdir)):
        return None  # a page of the site: MyST resolves it, and warns if it cannot
    if not file.exists() or not file.is_relative_to(root):
        logger.warning("link to a missing file: %s", target, location=docname)
        return None
    if file == root / "README.md":
        return f"{app.config.root_doc}.rst" + (f"#{anchor}" if anchor else "")
    kind = "tree" if file.is_dir() else "blob"
    return f"{app.config.repository_url}/{kind}/main/{file.relative_to(root).as_posix()}"


def _rewrite(app: Sphinx, document: Path, docname: str, source: list[str]) -> None:
    if document.suffix != ".md":
        return

    def replace(match: re.Match[str]) -> str:
        link = _site_link(app, document, docname, match["target"])
        return match[0] if link is None else f"]({link})"

    source[0] = _LINK.sub(replace, source[0])


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    _rewrite(app, Path(app.env.doc2path(docname)), docname, source)


def _on_include_read(
    app: Sphinx, relative_path: Path, parent_docname: str, content: list[str]
) -> None:
    _rewrite(app, Path(app.srcdir) / relative_path, parent_docname, content)


def _restore_defining_modules(app: Sphinx) -> None:
    """Give the public classes back the module that defines them, for this build.

    ``streamframer`` renames its classes' ``__module__`` to the name users import; autodoc reads
    the ``#:`` comments of attributes from the module a class names, so it would find none.
    The pages name each class by its public path anyway; ``_public_bases`` keeps the bases
    shown by theirs.
    """
    package = importlib.import_module("streamframer")
    defining = {}
    for module_info in pkgutil.walk_packages(package.__path__, "streamframer."):
        try:
            tags = ModuleAnalyzer.for_module(module_info.name).find_tags()
        except PycodeError:  # the compiled core: no Python source
            continue
        for tag, (kind, _, _) in tags.items():
            if kind == "class" and "." not in tag:
                defining[tag] = module_info.name
    for name in package.__all__:
        value = getattr(package, name)
        if isinstance(value, type) and value.__module__ == "streamframer":
            value.__module__ = defining[value.__qualname__]
            _PUBLIC_NAMES[value] = f"streamframer.{name}"


def _public_bases(app: Sphinx, name: str, obj: object, options: object, bases: list[Any]) -> None:
    bases[:] = [_PUBLIC_NAMES.get(base, base) for base in bases]


def _short_private_names(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    """``fixed_size(n) -> FixedSize``, not ``-> streamframer._rules._length.FixedSize``; and a
    class's signature is what it is called with, not the catch-all of a ``__new__``."""
    if what == "class" and signature == "(*args: object, **kwargs: object)":
        signature = _constructor_signature(app, obj)

    def shorten(text: str | None) -> str | None:
        if text is None:
            return None
        _UNLINKED.update(_PRIVATE_PATH.findall(text))
        return _PRIVATE_PATH.sub(r"\1", text)

    return shorten(signature), shorten(return_annotation)


def _constructor_signature(app: Sphinx, cls: Any) -> str:
    """The signature of ``cls.__init__`` without ``self``: the pure core's classes have a
    ``__new__`` that takes anything (BufferManager, so that a subclass that skips ``__init__``
    gets a working manager) or refuses everything (Frame, which users never make)."""
    if cls.__init__ is object.__init__:
        return ""
    update_defvalue(app, cls.__init__, True)  # autodoc_preserve_defaults, as autodoc does
    found = inspect_signature(cls.__init__, True, app.config.autodoc_type_aliases)
    return stringify_signature(found, show_return_annotation=False)


def _check_reference(app: Sphinx, env: BuildEnvironment) -> None:
    documented = set(env.domains.python_domain.objects)
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            full = f"{module_name}.{name}"
            if full not in documented:
                logger.warning("%s is public but no page documents it", full)
            value = getattr(module, name)
            if isinstance(value, type) and full in documented:
                for member in _public_members(value):
                    if f"{full}.{member}" not in documented:
                        logger.warning("%s.%s is public but not documented", full, member)


def _public_members(cls: type) -> set[str]:
    """The public attributes that classes of streamframer's own define on ``cls``."""
    own = [base for base in cls.__mro__ if base.__module__.startswith("streamframer")]
    members = set()
    for base in own:
        members.update(vars(base), getattr(base, "__slots__", ()))
        members.update(getattr(base, "__annotations__", {}))
    return {name for name in members if not name.startswith("_")}


def _resolve_short_name(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    """A name a docstring or an annotation writes short, ``BufferManager`` in a submodule's
    docstring or ``SSLContext`` imported for the type checker, is looked up by its full name."""
    if node.get("refdomain") != "py":
        return
    target = node["reftarget"]
    if target in _UNLINKED:
        return contnode
    if target in STDLIB_SHORT_NAMES or target.startswith(_ASYNCIO_SUBMODULES):
        # intersphinx, which comes next, resolves the name the documentation uses
        node["reftarget"] = STDLIB_SHORT_NAMES.get(target, "asyncio." + target.rpartition(".")[2])
        return None
    domain = env.domains.python_domain
    full = f"streamframer.{target}"
    if full in domain.objects:
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], full, node, contnode
        )
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("repository_url", "", "env", str)
    app.connect("builder-inited", _restore_defining_modules)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _short_private_names)
    app.connect("source-read", _on_source_read)
    app.connect("include-read", _on_include_read)
    app.connect("env-check-consistency", _check_reference)
    app.connect("missing-reference", _resolve_short_name, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
