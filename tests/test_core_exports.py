"""Exports of the buffer: what the cores lend out, and that nothing outlives its manager unsafely.

The compiled core lends its bytes only through exporters of its own, which count their live
buffers; the pure core lends memoryviews of its bytearray. Either way a view kept too long is a
FrameLifecycleError at the next operation that would move the bytes, never a crash or a changed
byte.
"""

from __future__ import annotations

import gc

import pytest

import streamframer
from streamframer import BufferManager, FrameLifecycleError, read_with_rule, until_delim

LINE = until_delim(b"\n")


class KeepsExporter:
    """A source whose ``recv_into`` writes one line and keeps the object behind the view."""

    def __init__(self) -> None:
        self.kept: list[object] = []

    def recv_into(self, view: memoryview) -> int:
        self.kept.append(view.obj)
        view[:2] = b"a\n"
        return 2


def test_an_exporter_kept_past_its_manager_lends_nothing() -> None:
    source = KeepsExporter()
    mgr = BufferManager()
    frame = read_with_rule(source, mgr, LINE)
    assert frame == b"a"
    frame.consume()
    del frame, mgr
    gc.collect()
    (exporter,) = source.kept
    if streamframer.IMPLEMENTATION == "c":
        with pytest.raises(FrameLifecycleError, match="read is over"):
            memoryview(exporter)  # type: ignore[arg-type]
    else:  # the pure core's bytearray itself, alive as long as it is referred to
        assert isinstance(exporter, bytearray)


def test_reads_reuse_nothing_a_source_still_holds() -> None:
    """A source that keeps a slice of one read's view: that read is refused with the bytes kept;
    once the slice is released, reading goes on, and the slice never saw the bytes change."""
    slices: list[memoryview] = []

    class KeepsSlice:
        def __init__(self) -> None:
            self.reads = 0

        def recv_into(self, view: memoryview) -> int:
            self.reads += 1
            data = b"%d\n" % self.reads
            view[: len(data)] = data
            if self.reads == 1:
                slices.append(view[:1])
            return len(data)

    source = KeepsSlice()
    mgr = BufferManager()
    with pytest.raises(FrameLifecycleError, match="kept an export"):
        read_with_rule(source, mgr, LINE)
    assert len(mgr) == 2  # the bytes it read are buffered
    assert bytes(slices[0]) == b"1"
    slices.pop().release()
    frame = read_with_rule(source, mgr, LINE)
    assert frame == b"1"
    frame.consume()
    frame = read_with_rule(source, mgr, LINE)
    assert frame == b"2"
