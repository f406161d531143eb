"""Public names say ``streamframer.X`` (tracebacks, reprs, docs), whatever module defines them."""

from __future__ import annotations

import pickle
import types

import pytest

import streamframer

PUBLIC = [
    name
    for name in streamframer.__all__
    if isinstance(getattr(streamframer, name), (type, types.FunctionType))
]


def test_classes_and_functions_are_most_of_the_public_names() -> None:
    # Only constants and typing aliases (Rule, RuleResult, Source) are left out.
    assert {"BufferManager", "Frame", "StreamClosed", "until_delim", "read_with_rule"} <= set(
        PUBLIC
    )
    left_out = set(streamframer.__all__) - set(PUBLIC)
    assert left_out == {
        name
        for name in streamframer.__all__
        if name.isupper() or name in ("Rule", "RuleResult", "Source")
    }


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
