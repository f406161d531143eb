"""until_any and between: several delimiters, start/stop markers with resync."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import (
    PROPERTY,
    CountingBuffer,
    CountingRule,
    check_frames,
    count_work,
    drive_counting,
    run_rule,
    split_at,
)
from streamframer import (
    BufferManager,
    FrameDiscarded,
    FrameSpan,
    NeedMore,
    Skip,
    StreamClosed,
    between,
    until_any,
)

LINE_ENDINGS = (b"\r\n", b"\n", b"\r")

# ------------------------------------------------------------------------------------------------
# until_any


def test_mixed_line_endings() -> None:
    check_frames(
        until_any(LINE_ENDINGS),
        b"one\r\ntwo\nthree\rfour\r\n\n",
        [b"one", b"two", b"three", b"four", b""],
        partial=b"fi",
    )


def test_longer_delimiter_wins_at_the_same_start() -> None:
    # b"\r\n" is one line end, never b"\r" and then an empty line.
    check_frames(until_any((b"\r", b"\r\n")), b"a\r\nb\r\n", [b"a", b"b"])
    check_frames(until_any((b"ab", b"abc")), b"1abc2ab3abc", [b"1", b"2", b"3"])


def test_earliest_start_wins_even_if_it_ends_later() -> None:
    # b"abcd" starts at 1, b"c" at 3: the frame ends where b"abcd" starts.
    check_frames(until_any((b"c", b"abcd")), b"xabcdyc", [b"x", b"y"])
    # When b"abcd" does not complete, the b"c" inside it ends the frame.
    check_frames(until_any((b"c", b"abcd")), b"xabcyc", [b"xab", b"y"])


def test_trailing_cr_waits_for_the_next_byte() -> None:
    rule = until_any(LINE_ENDINGS)
    assert rule(bytearray(b"a\r"), 0) == NeedMore(1)
    assert rule(bytearray(b"a\r\n"), 1) == FrameSpan(0, 1, 3)
    assert rule(bytearray(b"a\rb"), 1) == FrameSpan(0, 1, 2)
    # Byte by byte, "a\r" then "\n" is one frame, not "a" and an empty line.
    assert run_rule(rule, [b"a", b"\r", b"\n", b"b\r"]) == ([b"a"], b"b\r")


def test_trailing_cr_at_eof_is_a_partial_frame() -> None:
    mgr = BufferManager()
    mgr.feed(b"x\ry\r")
    rule = until_any(LINE_ENDINGS)
    frame = mgr.next_frame(rule)
    assert frame == b"x"
    frame.consume()
    mgr.feed_eof()
    with pytest.raises(StreamClosed) as caught:
        mgr.next_frame(rule)
    assert caught.value.partial == b"y\r"


def test_single_delimiter_behaves_like_until_delim() -> None:
    check_frames(until_any([b"\0\0"]), b"a\0\0\0b\0\0", [b"a", b"\0b"], partial=b"c\0")


def test_duplicates_do_not_matter_and_order_only_to_the_encoder() -> None:
    rule = until_any([b"\n", b"\r\n", b"\n"])
    assert rule.delimiters == (b"\r\n", b"\n")
    assert rule.encode_delimiter == b"\n"
    assert repr(rule) == "until_any((b'\\n', b'\\r\\n'))"
    assert until_any([b"\r\n", b"\n"]).delimiters == rule.delimiters
    assert until_any(iter([bytearray(b";")])).delimiters == (b";",)


@pytest.mark.parametrize(
    ("delims", "error", "message"),
    [
        (b"\r\n", TypeError, "collection of bytes"),
        ("\n", TypeError, "collection of bytes"),
        (10, TypeError, "collection of bytes, not int"),
        ([], ValueError, "at least one"),
        ([b"\n", b""], ValueError, "must not be empty"),
        ([b"\n", "\r"], TypeError, "must be bytes, not str"),
        ([b"\n", 13], TypeError, "must be bytes, not int"),
    ],
)
def test_until_any_refuses(delims: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        until_any(delims)  # type: ignore[arg-type]


def test_until_any_is_linear() -> None:
    # One 256 KiB line in 1 KiB reads: the rule examines each byte about once.
    line = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") * 1040
    counting, payloads = count_work(until_any(LINE_ENDINGS), line + b"\r\n")
    assert payloads == [line]
    assert counting.examined <= 2 * len(line)
    # One call per read, and one more that finds the buffer empty after the frame.
    assert counting.calls == -(-(len(line) + 2) // 1024) + 1
    # The real work, searches included: the rule's pattern reports what it scanned.
    rule = until_any(LINE_ENDINGS)
    rule._pattern = CountingPattern(rule._pattern)
    examined, payloads = drive_counting(rule, line + b"\r\n")
    assert payloads == [line]
    assert examined <= 2 * len(line)


class CountingPattern:
    """Wraps a compiled pattern; adds the bytes each search scanned to the buffer's count."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern

    def search(self, buffer: CountingBuffer, pos: int) -> re.Match[bytes] | None:
        match = self.pattern.search(buffer, pos)
        buffer.examined += (match.end() if match else len(buffer)) - pos
        return match


def reference_until_any(data: bytes, delims: list[bytes]) -> tuple[list[bytes], bytes]:
    """The frames of the whole stream by the definition, by brute force: the delimiter starting
    first (then the longest) ends a frame, unless a delimiter that could still complete (it runs
    past the end of the data) starts there or earlier."""
    frames = []
    position = 0
    at = 0
    while at < len(data):
        if any(len(d) > len(data) - at and d.startswith(data[at:]) for d in delims):
            break
        matches = [d for d in delims if data.startswith(d, at)]
        if matches:
            frames.append(data[position:at])
            position = at = at + max(map(len, matches))
        else:
            at += 1
    return frames, data[position:]


def letters(alphabet: bytes, min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(alphabet), min_size=min_size, max_size=max_size).map(bytes)


@PROPERTY
@given(
    delims=st.lists(letters(b"abc", 1, 4), min_size=1, max_size=4),
    data=letters(b"abcd", 0, 60),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_until_any_matches_the_definition_whatever_the_chunking(
    delims: list[bytes], data: bytes, sizes: list[int]
) -> None:
    # A small alphabet makes overlapping and nested delimiters frequent.
    expected = reference_until_any(data, delims)
    assert run_rule(until_any(delims), split_at(data, sizes)) == expected


@PROPERTY
@given(
    lines=st.lists(
        st.tuples(
            st.binary(min_size=1, max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b),
            st.sampled_from(LINE_ENDINGS),
        ),
        max_size=12,
    ),
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=5),
)
def test_until_any_round_trip(lines: list[tuple[bytes, bytes]], sizes: list[int]) -> None:
    stream = b"".join(text + ending for text, ending in lines)
    expected = [text for text, _ in lines]
    leftover = b""
    if lines and lines[-1][1] == b"\r":
        # A last line ended by a bare CR waits: a LF may still follow.
        leftover = lines[-1][0] + b"\r"
        expected.pop()
    assert run_rule(until_any(LINE_ENDINGS), split_at(stream, sizes)) == (expected, leftover)


# ------------------------------------------------------------------------------------------------
# between

STX, ETX = b"\x02", b"\x03"


def bcc(data: bytes) -> bytes:
    """The XOR block check character many STX/ETX protocols append."""
    check = 0
    for byte in data:
        check ^= byte
    return bytes((check,))


def stx_frame(body: bytes) -> bytes:
    return STX + body + ETX + bcc(body + ETX)


def test_stx_etx_with_bcc() -> None:
    bodies = [b"ab", b"", b"\x02\x03x"[:1] + b"q", b"12345"]
    # BCC bytes that equal STX or ETX must not confuse the rule: they are the trailer.
    stream = b"".join(stx_frame(body) for body in bodies)
    check_frames(between(STX, ETX, trailer=1), stream, bodies, partial=STX + b"half")


def test_trailer_equal_to_the_markers() -> None:
    stream = STX + b"a" + ETX + STX + STX + b"b" + ETX + ETX
    check_frames(between(STX, ETX, trailer=1), stream, [b"a", b"b"])


def test_bytes_before_the_start_marker_are_skipped() -> None:
    # Noise, a stop marker without a start, and half a frame: all skipped.
    stream = b"noise" + ETX + b"Z" + b"tail of a frame" + ETX + b"!" + stx_frame(b"ok")
    check_frames(between(STX, ETX, trailer=1), stream, [b"ok"], partial=STX + b"x")


def test_skipped_bytes_are_dropped_at_once_and_counted() -> None:
    rule = between(STX, ETX, trailer=1)
    assert rule(bytearray(b"xyz" + stx_frame(b"ok")), 0) == Skip(3)
    assert rule(bytearray(b"noise"), 0) == Skip(5)
    assert rule(bytearray(b"ab" + STX), 0) == Skip(2)
    mgr = BufferManager()
    mgr.feed(b"xyz" + stx_frame(b"ok") + b"more noise")
    frame = mgr.next_frame(rule)
    assert frame == b"ok"
    assert mgr.skipped == 3
    frame.consume()
    assert mgr.next_frame(rule) is None
    assert (mgr.skipped, len(mgr)) == (13, 0)  # noise never waits in the buffer


def test_noise_and_frames_in_one_byte_reads_cost_linear_scanning() -> None:
    rule = between(STX, ETX, trailer=1)
    counting = CountingRule(rule)
    mgr = BufferManager(max_size=None)
    stream = b"n" * 5000 + STX + b"b" * 5000 + ETX + b"!"
    frames = []
    for i in range(len(stream)):
        mgr.feed(stream[i : i + 1])
        frame = mgr.next_frame(counting)
        if frame is not None:
            frames.append(bytes(frame))
            frame.consume()
    assert frames == [b"b" * 5000]
    assert counting.examined <= 2 * len(stream)


def test_start_marker_inside_the_body_is_data() -> None:
    check_frames(between(b"<", b">"), b"<a<b>c<d>", [b"a<b", b"d"])


def test_multibyte_markers_split_across_reads() -> None:
    rule = between(b"BEGIN", b"END\r\n")
    stream = b"BEGINoneEND\r\nxxBEGBEGINtwo ENDEND\r\n"
    check_frames(rule, stream, [b"one", b"two END"], partial=b"BEGINthr")


def test_same_start_and_stop_marker() -> None:
    check_frames(between(b"~", b"~"), b"~a~~b~x~c~", [b"a", b"b", b"c"])


def test_keep_markers_lets_the_checksum_be_verified() -> None:
    # ASTM E1381 style: STX, frame number, text, ETX, two hex checksum digits, CR LF.
    def astm(number: int, text: bytes) -> bytes:
        body = str(number).encode() + text + ETX
        return STX + body + b"%02X" % (sum(body) % 256) + b"\r\n"

    stream = b"\x05" + astm(1, b"H|\\^&|||host") + astm(2, b"L|1|N")
    rule = between(STX, ETX, trailer=4, keep_markers=True)
    frames, rest = run_rule(rule, [stream])
    assert rest == b""
    assert [f[1:-5] for f in frames] == [b"1H|\\^&|||host", b"2L|1|N"]
    for frame in frames:
        assert frame[:1] == STX
        assert frame[-4:-2] == b"%02X" % (sum(frame[1:-4]) % 256)
    check_frames(rule, stream, frames)
    assert rule(bytearray(b"\x05" + astm(1, b"x")), 0) == Skip(1)
    assert rule(bytearray(astm(1, b"x")), 0) == FrameSpan(0, 8, 8)


def test_trailer_pending_reports_the_frame_size() -> None:
    rule = between(STX, ETX, trailer=2)
    assert rule(bytearray(STX + b"ab" + ETX + b"c"), 0) == NeedMore(3, frame_size=6)
    assert rule(bytearray(b"zz" + STX + b"ab" + ETX), 0) == Skip(2)


def test_between_repr() -> None:
    assert repr(between(STX, ETX)) == "between(b'\\x02', b'\\x03')"
    assert repr(between(STX, ETX, trailer=1, keep_markers=True)) == (
        "between(b'\\x02', b'\\x03', trailer=1, keep_markers=True)"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"start": "\x02", "stop": ETX}, TypeError, "start must be bytes, not str"),
        ({"start": STX, "stop": None}, TypeError, "stop must be bytes, not NoneType"),
        ({"start": b"", "stop": ETX}, ValueError, "start must not be empty"),
        ({"start": STX, "stop": b""}, ValueError, "stop must not be empty"),
        ({"start": STX, "stop": ETX, "trailer": -1}, ValueError, "trailer must be at least 0"),
        ({"start": STX, "stop": ETX, "trailer": 1.0}, TypeError, "trailer must be an int"),
        ({"start": STX, "stop": ETX, "trailer": True}, TypeError, "trailer must be an int"),
    ],
)
def test_between_refuses(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        between(**kwargs)  # type: ignore[arg-type]


def test_between_is_linear_for_a_large_frame() -> None:
    body = bytes(range(4, 256)) * 1040
    counting, payloads = count_work(between(STX, ETX, trailer=1), stx_frame(body))
    assert payloads == [body]
    assert counting.examined <= 2 * len(body)
    examined, payloads = drive_counting(between(STX, ETX, trailer=1), stx_frame(body))
    assert payloads == [body]
    assert examined <= 2 * len(body)


def test_between_is_linear_while_skipping() -> None:
    noise = bytes(range(4, 256)) * 1040
    counting, payloads = count_work(between(STX, ETX, trailer=1), noise + stx_frame(b"ok"))
    assert payloads == [b"ok"]
    assert counting.examined <= 2 * len(noise)
    examined, payloads = drive_counting(between(STX, ETX, trailer=1), noise + stx_frame(b"ok"))
    assert payloads == [b"ok"]
    assert examined <= 2 * len(noise)


def test_between_after_skipped_bytes_is_linear() -> None:
    body = bytes(range(4, 256)) * 64  # 16 KiB, arriving in 1 KiB reads after noise
    rule = between(STX, ETX, trailer=1)
    stream = b"noise" + stx_frame(body) + stx_frame(body)
    examined, payloads = drive_counting(rule, stream)
    assert payloads == [body, body]
    assert examined <= 2 * len(stream)


@PROPERTY
@given(
    frames=st.lists(
        st.tuples(
            st.binary(max_size=8).filter(lambda b: STX not in b),  # skipped before the frame
            st.binary(max_size=24).filter(lambda b: ETX not in b),  # body: STX allowed
            st.binary(min_size=2, max_size=2),  # trailer: anything
        ),
        max_size=8,
    ),
    sizes=st.lists(st.integers(1, 16), min_size=1, max_size=5),
)
def test_between_round_trip(frames: list[tuple[bytes, bytes, bytes]], sizes: list[int]) -> None:
    stream = b"".join(noise + STX + body + ETX + trailer for noise, body, trailer in frames)
    mgr = BufferManager()
    rule = between(STX, ETX, trailer=2)
    got = []
    skipped = 0
    for chunk in split_at(stream, sizes):
        mgr.feed(chunk)
        while True:
            frame = mgr.next_frame(rule)
            if frame is None:
                break
            got.append((mgr.skipped - skipped, bytes(frame)))
            skipped = mgr.skipped
            frame.consume()
    assert got == [(len(noise), body) for noise, body, _ in frames]
    assert len(mgr) == 0


def test_discarding_an_oversized_frame_keeps_the_next_good_one() -> None:
    mgr = BufferManager(max_size=16, on_overflow="discard")
    rule = between(STX, ETX, trailer=1)
    stream = stx_frame(b"x" * 40) + stx_frame(b"ok")
    events: list[object] = []
    for i in range(0, len(stream), 5):
        mgr.feed(stream[i : i + 5])
        while True:
            try:
                frame = mgr.next_frame(rule)
            except FrameDiscarded as exc:
                events.append(("discarded", exc.size))
                continue
            if frame is None:
                break
            with frame:
                events.append(bytes(frame))
    assert events[-1] == b"ok"
    reports = [e for e in events if isinstance(e, tuple)]
    assert len(reports) == 1  # reported exactly once
    discarded = reports[0][1]
    assert discarded >= 16
    # What the discard did not drop, the rule skipped as noise: nothing else is lost.
    assert discarded + mgr.skipped + len(stx_frame(b"ok")) == len(stream)
