"""Public names say ``streamframer.X`` (tracebacks, reprs, docs), whatever module defines them."""

from __future__ import annotations

import pickle

import pytest

import streamframer

pytestmark = pytest.mark.one_core

ALIASES = ("Rule", "RuleResult", "Source")  # typing aliases: typing's objects, not ours
PUBLIC = [name for name in streamframer.__all__ if not name.isupper() and name not in ALIASES]


def test_only_typing_aliases_are_left_out() -> None:
    # Were one of them to become a class of ours (a Protocol), it would have to be checked.
    assert {getattr(streamframer, name).__module__ for name in ALIASES} == {"typing"}


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_reports_the_package(name: str) -> None:
    value = getattr(streamframer, name)
    assert value.__module__ == "streamframer"
    assert getattr(streamframer, value.__qualname__) is value


def test_reprs_and_pickles_use_the_public_path() -> None:
    assert repr(streamframer.StreamClosed) == "<class 'streamframer.StreamClosed'>"
    assert repr(streamframer.BufferManager).startswith("<class 'streamframer.BufferManager'")
    error = pickle.loads(pickle.dumps(streamframer.FramingError("bad", 3)))
    assert type(error) is streamframer.FramingError
