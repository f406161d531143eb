"""Every code block in README.md and docs/*.md runs as shown, so that no snippet can rot.

How a block is checked depends on its fence and on the HTML comment on the line right before it
(comments do not show on GitHub or PyPI):

- ```python``: run as a program of its own, in a fresh interpreter (``python -X dev -W error``)
  in an empty directory: it must exit 0 and print nothing on stderr, so a socket or transport
  left open fails it. ``print(...)  # b'abc', then b'def'``: a comment that starts with
  literals says what the line prints; the program's output must be exactly those, in order.
- ``<!-- docs-test: setup NAME -->`` before a python block: run after the setup NAME (``SETUPS``
  below), which can start a loopback peer, prepend hidden code (imports, a connected ``sock``),
  append clean-up, and substitute text in the shown code (``/dev/ttyUSB0`` becomes
  ``loop://``); every substitution must apply. ``setup demo`` runs the block as pasted against
  ``streamframer demo --serve``, the simulated instrument the README tells users to start.
  Add a setup there for a new kind of block; the peers come from tests/cli_peers.py.
- ``<!-- excerpt: PATH -->``: the code is verbatim in PATH (at any indentation), whose own tests
  run it; it must compile.
- ``<!-- docs-test: compile-only: WHY -->``: compiled only, for code that needs a device, a
  remote host or a package the tests do not install; say why.
- ```sh``: checked with ``bash -n``. The commands need a network, a device or a fresh machine;
  .ci/run runs the README's two.
- ``<!-- docs-test: transcript -->`` before an unlabelled block of ``$ command`` lines, each
  followed by its output: every command runs (bash, in the repository) and prints exactly that.
- Other unlabelled blocks are diagrams or output: not run. Any other language is refused.

Links must resolve: to a heading of the same page, to a file of the repository (in README.md as
an absolute link to the repository, since PyPI shows the README without the repository's files),
or to another site.

Table cells that show a public callable are checked against the package too: a signature such
as `until_delim(delim, *, strip=None)` must match the real one (order, keyword-only, defaults
shown; parameters may be left out, and ``...`` ends a shortened list), and a call such as
`fixed_size(16)` must succeed. Cells with a command-line metavariable (`fixed_size(N)`) are not.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

import streamframer
from cli_peers import WAIT, Peer

pytestmark = pytest.mark.one_core

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/streamframer/streamframer/blob/main/"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_MARKER = re.compile(
    r"<!-- (?:excerpt: (?P<excerpt>\S+)"
    r"|docs-test: (?P<kind>setup|compile-only|transcript)(?::? (?P<argument>.+?))?) -->"
)


class Block(NamedTuple):
    """One fenced block of a document."""

    document: Path
    line: int  # of the opening fence, from 1
    language: str  # "" for an unlabelled block
    code: str
    marker: re.Match[str] | None  # the HTML comment on the line before, if any

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


_CHECKED = {"python", "sh", ""}
_MARKED_LANGUAGE = {
    "setup": "python",
    "excerpt": "python",
    "compile-only": "python",
    "transcript": "",
}


def _kind(block: Block) -> str | None:
    if block.marker is None:
        return None
    return "excerpt" if block.marker["excerpt"] else block.marker["kind"]


def _blocks(document: Path) -> list[Block]:
    lines = document.read_text("utf-8").splitlines(keepends=True)
    blocks = []
    number = 0
    while number < len(lines):
        fence = lines[number].rstrip("\n")
        if not fence.startswith("```"):
            number += 1
            continue
        where = f"{document.name}:{number + 1}"
        ends = [i for i in range(number + 1, len(lines)) if lines[i].rstrip("\n") == "```"]
        if not ends:
            raise ValueError(f"{where}: a block that never ends")
        end = ends[0]
        comment = lines[number - 1].strip() if number > 0 else ""
        marker = _MARKER.fullmatch(comment)
        if comment.startswith("<!--") and marker is None:
            raise ValueError(f"{where}: unknown marker {comment!r} before a block")
        code = "".join(lines[number + 1 : end])
        block = Block(document, number + 1, fence[3:].strip(), code, marker)
        if _kind(block) is not None and _MARKED_LANGUAGE[_kind(block)] != block.language:
            raise ValueError(f"{where}: {comment!r} does not apply to a {block.language!r} block")
        blocks.append(block)
        number = end + 1
    return blocks


BLOCKS = [block for document in DOCUMENTS for block in _blocks(document)]


def _of(language: str, kind: str | None = None) -> list[Any]:
    return [
        pytest.param(block, id=block.where)
        for block in BLOCKS
        if block.language == language and (kind is None or _kind(block) == kind)
    ]


def test_every_block_has_a_checked_language() -> None:
    unknown = [(block.where, block.language) for block in BLOCKS if block.language not in _CHECKED]
    assert not unknown, "a block in a language nothing checks"
    # The parser sees every kind of block (a broken one would make the tests below vacuous).
    kinds = {(block.language, _kind(block)) for block in BLOCKS}
    assert kinds >= {
        ("python", None),
        ("python", "setup"),
        ("python", "excerpt"),
        ("python", "compile-only"),
        ("sh", None),
        ("", "transcript"),
    }


# --------------------------------------------------------------------------------------------
# Setups: what a block needs that it does not show


class Setup(NamedTuple):
    prelude: str = ""  # hidden code run before the block
    epilogue: str = ""  # hidden code run after it
    substitutions: tuple[tuple[str, str], ...] = ()  # (regular expression, replacement)


SETUPS: dict[str, Callable[[], contextlib.AbstractContextManager[Setup]]] = {}


def _setup(name: str) -> Callable[[Callable[[], Iterator[Setup]]], None]:
    def register(function: Callable[[], Iterator[Setup]]) -> None:
        SETUPS[name] = contextlib.contextmanager(function)

    return register


@_setup("lines-socket")
def _lines_socket() -> Iterator[Setup]:
    """``sock``, ``mgr`` and ``rule`` as in the minimal example; the peer sends two lines and
    closes."""
    with Peer(lambda conn: conn.sendall(b"first\nsecond\n")) as peer:
        yield Setup(
            prelude=(
                "import socket\n"
                "from streamframer import BufferManager, until_delim\n"
                f"sock = socket.create_connection(('127.0.0.1', {peer.port}))\n"
                "mgr = BufferManager()\n"
                "rule = until_delim(b'\\n')\n"
            ),
            epilogue="sock.close()\n",
        )


@_setup("socketpair")
def _socketpair() -> Iterator[Setup]:
    """``sock``, one end of a socket pair, for a block that shows a connection it was given."""
    yield Setup(
        prelude="import socket\nsock, _other_end = socket.socketpair()\n",
        epilogue="sock.close()\n_other_end.close()\n",
    )


# The demo's address, as the blocks that talk to it write it.
_DEMO_ADDRESS = r'127\.0\.0\.1(", |:)5025\b'


@_setup("demo")
def _demo() -> Iterator[Setup]:
    """The block as pasted, against ``streamframer demo --serve``, which the README says to run
    on port 5025. It runs on a free port here (the machine may be running other things), and a
    hidden prelude sends the block's connections to 127.0.0.1:5025 there; the block itself is
    not changed. Once it ran, Ctrl-C must stop the demo with exit code 0 and no traceback."""
    served = subprocess.Popen(
        [sys.executable, "-m", "streamframer", "demo", "--serve", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C as in a shell
    )
    try:
        assert served.stdout is not None
        started = re.search(r":(\d+) \(Ctrl-C", served.stdout.readline())
        assert started, "the demo did not start"
        yield Setup(
            prelude=_TO_THE_DEMO.format(port=started[1]),
            substitutions=((_DEMO_ADDRESS, r"\g<0>"),),  # only checks the block uses it
        )
        served.send_signal(signal.SIGINT)
        _, errors = served.communicate(timeout=WAIT)
        assert (served.returncode, errors) == (0, "")
    finally:
        if served.poll() is None:
            served.kill()
            served.communicate()


_TO_THE_DEMO = """\
import socket as _socket

_connect = _socket.socket.connect


def _to_the_demo(sock, address):
    if isinstance(address, tuple) and tuple(address[:2]) == ("127.0.0.1", 5025):
        address = ("127.0.0.1", {port})
    return _connect(sock, address)


_socket.socket.connect = _to_the_demo
"""


@_setup("free-port")
def _free_port() -> Iterator[Setup]:
    """The block's port 5025 becomes one that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield Setup(substitutions=((r"\b5025\b", str(port)),))


@_setup("serial-loop")
def _serial_loop() -> Iterator[Setup]:
    """The block's serial device becomes pyserial's ``loop://``, which echoes what is written."""
    yield Setup(
        substitutions=(
            (r'serial\.Serial\("/dev/ttyUSB0", \d+, ', 'serial.serial_for_url("loop://", '),
        )
    )


# --------------------------------------------------------------------------------------------
# Python blocks


def _compile(block: Block) -> None:
    code = textwrap.dedent(block.code)
    compile(code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def _shown_output(code: str) -> list[str]:
    """What the comments say the block prints: the literals that start a ``print`` line's
    comment, separated by commas or "then"."""
    shown = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type != tokenize.COMMENT or not token.line.lstrip().startswith("print("):
            continue
        with contextlib.suppress(tokenize.TokenError, SyntaxError):
            for part in tokenize.generate_tokens(io.StringIO(token.string[1:]).readline):
                if part.type == tokenize.STRING:
                    shown.append(part.string)
                elif part.string not in {",", "then"} and part.type != tokenize.INDENT:
                    break
    return shown


# Prepended to every block run: a block (or a setup that missed a substitution) may only connect
# to this machine, never to the example addresses the docs show.
_LOOPBACK_ONLY = """\
import sys as _sys


def _loopback_only(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        host = str(args[1][0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise PermissionError(f"a docs block may only connect to loopback, not {host!r}")


_sys.addaudithook(_loopback_only)
"""


def _run(code: str, directory: Path) -> str:
    program = directory / "block.py"
    program.write_text(_LOOPBACK_ONLY + code, "utf-8")
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(program)],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, ""), f"{code}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("block", _of("python"))
def test_python_block(block: Block, tmp_path: Path) -> None:
    marker = block.marker
    _compile(block)
    if marker is not None and marker["excerpt"]:
        source = (ROOT / marker["excerpt"]).read_text("utf-8")
        assert any(textwrap.indent(block.code, " " * indent) in source for indent in (0, 4, 8)), (
            f"{marker['excerpt']} no longer holds the code of {block.where}"
        )
        return
    if marker is not None and marker["kind"] == "compile-only":
        assert marker["argument"], f"{block.where}: say why it is compile-only"
        return
    setup_name = marker["argument"] if marker is not None else None
    assert setup_name is None or setup_name in SETUPS, f"{block.where}: no setup {setup_name!r}"
    setup = SETUPS[setup_name]() if setup_name else contextlib.nullcontext(Setup())
    with setup as hidden:
        code = block.code
        for pattern, replacement in hidden.substitutions:
            code, count = re.subn(pattern, replacement, code)
            assert count, f"setup {setup_name!r}: {pattern!r} is not in {block.where}"
        output = _run(hidden.prelude + code + hidden.epilogue, tmp_path)
    shown = _shown_output(block.code)
    if shown:
        assert output.splitlines() == shown


def test_shown_output_is_read_from_print_comments() -> None:
    code = "print(x)  # b'a', then b'b': the rest\nprint(y)  # not a literal\ny = 1  # 'no'\n"
    assert _shown_output(code) == ["b'a'", "b'b'"]


# --------------------------------------------------------------------------------------------
# Shell blocks and transcripts


@pytest.mark.parametrize("block", _of("sh"))
def test_shell_block_is_valid_bash(block: Block) -> None:
    result = subprocess.run(
        ["bash", "-n"], input=block.code, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _commands(transcript: str) -> list[tuple[str, str]]:
    """``$ command`` lines and the output after each (a blank line before the next is not)."""
    parts = re.split(r"^\$ (.*)\n", transcript, flags=re.M)
    assert parts[0] == "", "a transcript starts with a $ command"
    pairs = list(zip(parts[1::2], parts[2::2]))
    return [
        (command, output[:-1] if output.endswith("\n\n") and i < len(pairs) - 1 else output)
        for i, (command, output) in enumerate(pairs)
    ]


@pytest.mark.parametrize("block", _of("", "transcript"))
def test_transcript(block: Block) -> None:
    environment = dict(os.environ)
    # The commands as installed beside this interpreter, whether or not its venv is active.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    for command, output in _commands(block.code):
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=WAIT * 2,
            check=False,
        )
        assert result.stdout == output, f"$ {command}"


# --------------------------------------------------------------------------------------------
# Install text

_PIP_INSTALL = re.compile(r"pip install ([^`\n#;&|]*)")


def test_no_install_line_fetches_the_unrelated_package_from_the_index() -> None:
    """Until this version is published, installs come from a checkout (``-e .``); a line that
    names the package carries a version floor, so that pip fails clearly rather than install
    the unrelated ``streamframer`` 0.0.x of the package index."""
    lines = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text("utf-8").splitlines(), 1):
            for arguments in _PIP_INSTALL.findall(line):
                named = [word for word in arguments.split() if "streamframer" in word]
                lines += [f"{document.name}:{number}: {word}" for word in named if ">=" not in word]
    assert lines == []
    text = (ROOT / "README.md").read_text("utf-8")
    assert "pip install -e ." in text
    assert "pip install 'streamframer[serial]>=0.1'" in text
    assert 'backend="trio")' not in text  # the anyio extra does not install trio


# --------------------------------------------------------------------------------------------
# Signatures and calls in tables

_CALL_IN_TABLE = re.compile(r"`(\w+)\(([^`]*)\)`")
# docs/cli.md maps options to rules with the options' metavariables: `fixed_size(N)`.
_METAVARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*\b")


def _table_calls() -> list[Any]:
    calls = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text("utf-8").splitlines(), 1):
            if line.startswith("|"):
                calls += [
                    pytest.param(name, arguments, id=f"{document.name}:{number}:{name}")
                    for name, arguments in _CALL_IN_TABLE.findall(line)
                    if name in streamframer.__all__ and not _METAVARIABLE.search(arguments)
                ]
    return calls


@pytest.mark.parametrize(("name", "arguments"), _table_calls())
def test_table_signature_or_call(name: str, arguments: str) -> None:
    real = inspect.signature(getattr(streamframer, name))
    shown_arguments = re.sub(r"(, )?\.\.\.$", "", arguments)
    try:
        shown = ast.parse(f"def {name}({shown_arguments}): pass").body[0]
    except SyntaxError:  # not a signature: a call, which must work
        shown = None
    assert shown is None or isinstance(shown, ast.FunctionDef)
    if shown is None or (
        arguments and arguments == shown_arguments and not _has_bare_parameter(shown)
    ):
        # A call: fixed_size(16), or one with keyword arguments only, varint_prefixed(offset=1).
        eval(f"{name}({arguments})", vars(streamframer))
        return
    kinds = [(a, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in shown.args.args]
    kinds += [(a, inspect.Parameter.KEYWORD_ONLY) for a in shown.args.kwonlyargs]
    defaults = dict(zip(reversed(shown.args.args), reversed(shown.args.defaults)))
    defaults.update((a, d) for a, d in zip(shown.args.kwonlyargs, shown.args.kw_defaults) if d)
    order = list(real.parameters)
    positions = []
    for argument, kind in kinds:
        assert argument.arg in real.parameters, f"{name}() has no parameter {argument.arg!r}"
        parameter = real.parameters[argument.arg]
        assert parameter.kind == kind, f"{name}(): {argument.arg} is {parameter.kind.description}"
        if argument in defaults:
            assert ast.literal_eval(defaults[argument]) == parameter.default, argument.arg
        positions.append(order.index(argument.arg))
    assert positions == sorted(positions), f"{name}(): parameters out of order"


def _has_bare_parameter(shown: ast.FunctionDef) -> bool:
    """A signature names a parameter without a value, or marks the keyword-only ones with ``*``:
    a call with keyword arguments only parses as a definition too, and is none."""
    with_defaults = len(shown.args.defaults)
    bare = shown.args.args[: len(shown.args.args) - with_defaults]
    return bool(bare) or bool(shown.args.kwonlyargs) or shown.args.vararg is not None


def test_a_wrong_signature_in_a_table_is_caught() -> None:
    with pytest.raises(AssertionError, match="strip is keyword-only"):
        test_table_signature_or_call("until_delim", "delim, strip=None")
    with pytest.raises(TypeError):
        test_table_signature_or_call("until_delim", 'b"\\n", b"\\r"')
    test_table_signature_or_call("varint_prefixed", "offset=1, max_bytes=4")  # a call
    with pytest.raises(TypeError):
        test_table_signature_or_call("varint_prefixed", "offsets=1")


# --------------------------------------------------------------------------------------------
# Links

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: document.name)
def test_links_resolve(document: Path) -> None:
    text = document.read_text("utf-8")
    anchors = {_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
    for target in _LINK.findall(text):
        path, _, anchor = target.partition("#")
        if not path:
            assert anchor in anchors, f"{document.name}: no heading for {target!r}"
        elif path.startswith(REPOSITORY):
            assert (ROOT / path[len(REPOSITORY) :]).exists(), f"{document.name}: {target!r}"
        elif not path.startswith("https://"):
            assert document.name != "README.md", f"{target!r}: PyPI cannot follow it"
            assert (document.parent / path).exists(), f"{document.name}: {target!r}"
