"""Why a query got no reply: the line ending that was sent, and the ones to try instead.

Instruments commonly read commands ended by one line ending and answer with another (pyvisa's
``write_termination`` and ``read_termination``); one waiting for an ending it never gets says
nothing at all. So a query that timed out with nothing back says what it sent and suggests the
other endings, never the one already used: ``encoder=`` in the API, ``--write-term`` in the
command.
"""

from __future__ import annotations

__all__ = ["ENDINGS", "hint", "no_reply", "other_endings", "sent_ending"]

#: The line endings instruments use, most common first.
ENDINGS = (b"\n", b"\r", b"\r\n")


def sent_ending(payload: bytes, wire: bytes) -> bytes:
    """What the encoder added after ``payload`` in ``wire``: its line ending, or ``b""`` when
    the frame is not the payload and an ending (a length prefix, a block)."""
    if len(wire) > len(payload) and wire.startswith(payload):
        return wire[len(payload) :]
    return b""


def other_endings(ending: bytes) -> list[bytes]:
    """The endings to suggest after ``ending`` got no reply (all of them but it)."""
    return [other for other in ENDINGS if other != ending]


def no_reply(timeout: float | None, buffered: int, payload: object, wire: bytes) -> str:
    """The message of an async query's ``TimeoutError``: how long, what is buffered, and the
    hint when nothing came back."""
    return f"no reply within {timeout} s ({buffered} bytes buffered){hint(payload, wire, buffered)}"


def hint(payload: object, wire: bytes, buffered: int) -> str:
    """The API's hint for a query: ``""`` unless nothing at all came back and the payload was
    sent as a line."""
    if buffered or not isinstance(payload, (bytes, bytearray, memoryview)):
        return ""
    ending = sent_ending(bytes(payload), wire)
    if not ending:
        return ""
    tries = " or ".join(f"encoder=until_delim({other!r})" for other in other_endings(ending))
    return (
        f"; it was sent ending with {ending!r}: an instrument that reads another line ending "
        f"waits for ever, so send its ending with {tries} (the rule still reads the replies)"
    )
