/* The docstrings and signatures of BufferManager and Frame: the pure core's words (../_pure),
 * with "name($self, ...)\n--\n\n" first for inspect.signature. tests/test_signatures.py checks
 * that both cores give the same signatures and docstrings: change the pure core's, then these.
 */
#ifndef STREAMFRAMER_DOCS_H
#define STREAMFRAMER_DOCS_H

#define MANAGER_DOC \
    "BufferManager(max_size=16777216, *, read_size=65536, on_overflow='error', " \
    "on_eof='raise')\n--\n\n" \
    "Owns one stream's byte buffer and the rule's scan position.\n\n" \
    "Bytes persist across reads until a frame is consumed. ``max_size`` bounds the bytes one " \
    "frame\n" \
    "may occupy (header, payload and delimiter); ``None`` opts out explicitly. ``read_size`` is " \
    "the\n" \
    "most one read asks the source for.\n\n" \
    "``on_overflow`` says what happens to a frame larger than ``max_size``: ``\"error\"`` " \
    "raises\n" \
    ":class:`FrameTooLarge` and keeps the bytes for inspection; ``\"discard\"`` drops the frame " \
    "(up to\n" \
    "the end the rule finds, or the size its header declared), then raises\n" \
    ":class:`FrameDiscarded` once, with the count, and carries on with the next frame.\n\n" \
    "``on_eof`` says what happens to a trailing partial frame when the stream ends: " \
    "``\"raise\"``\n" \
    "raises :class:`StreamClosed` with the bytes in ``.partial``; ``\"frame\"`` delivers them " \
    "as a\n" \
    "last frame (for devices that simply close after their last message), then raises\n" \
    ":class:`StreamClosed` with nothing partial. After the end of the stream, ``next_frame``\n" \
    "never returns ``None``.\n\n" \
    "Threads: a manager serves one thread at a time and takes no locks. Using it from two " \
    "threads\n" \
    "at once (a feeding thread and a reading thread, say) is detected rather than silently\n" \
    "mangling frames: the call that overlaps another raises :class:`FrameLifecycleError` and\n" \
    "changes nothing. Calls from different threads that do not overlap are fine. Detection is\n" \
    "exact on CPython 3.11 and later with the GIL, best effort elsewhere (free-threaded builds,\n" \
    "3.9, 3.10): hand bytes from a reading thread to the framing thread through a queue.\n\n" \
    "The I/O adapters read through ``_fill(read_into)``, the one per-read entry point, which\n" \
    "both cores provide (see ``Reads._fill``)."

#define FEED_DOC \
    "feed($self, data, /)\n--\n\n" \
    "Append received bytes (the sans-IO way in).\n\n" \
    "It may be called while a frame is outstanding or a :meth:`view` is alive (an event loop\n" \
    "delivers data whenever it likes): those bytes wait behind them, in order. At most\n" \
    "``max_size`` bytes may wait behind an outstanding frame: a chunk that would go beyond\n" \
    "raises :class:`FrameTooLarge` and is not taken (nothing fed earlier is lost); consume\n" \
    "the frame, then feed it again."

#define FEED_EOF_DOC \
    "feed_eof($self, /)\n--\n\n" \
    "Mark the end of the stream: once the buffered frames are taken, ``next_frame`` raises\n" \
    ":class:`StreamClosed` carrying whatever is left."

#define NEXT_FRAME_DOC \
    "next_frame($self, rule, /)\n--\n\n" \
    "The next complete frame according to ``rule``, or ``None`` if more bytes are needed.\n\n" \
    "Returns ``None`` if, and only if, the buffered bytes hold no complete frame and the\n" \
    "stream has not ended. Raises :class:`FrameLifecycleError` while the previous frame is\n" \
    "outstanding, :class:`FrameTooLarge` when the frame cannot fit in ``max_size``, and\n" \
    ":class:`StreamClosed` when the stream has ended and no complete frame is left."

#define DRAIN_DOC \
    "drain($self, rule, /)\n--\n\n" \
    "Every complete frame buffered now, as ``bytes`` copies, all consumed.\n\n" \
    "The batch path: for many small frames it is several times faster than taking frames one\n" \
    "by one (delimiter rules split in C), at the price of one copy of each payload. It raises\n" \
    "like :meth:`next_frame`, but only once the frames before the trouble were returned by\n" \
    "an earlier call: frames already found are never dropped."

#define RESERVE_DOC \
    "reserve($self, /, size=None)\n--\n\n" \
    "Spare capacity at the end of the buffer, for a zero-copy read (``recv_into``,\n" \
    "``readinto``, ``asyncio.BufferedProtocol.get_buffer``).\n\n" \
    "Write up to ``len(view)`` bytes into the returned view, then call ``commit(nbytes)``\n" \
    "(also with ``0`` when the read failed). Only the bytes written are yours to commit: the\n" \
    "view starts out holding whatever the buffer's spare capacity held (it is not cleared,\n" \
    "so that a reservation costs no memory it does not use). ``size`` defaults to an\n" \
    "adaptive read size, and is capped so that the buffer never holds more than\n" \
    "``max_size`` bytes. Refused while a frame\n" \
    "is outstanding (bytes arriving then go through ``feed()``, and wait behind it)."

#define COMMIT_DOC \
    "commit($self, nbytes, /)\n--\n\n" \
    "Keep the first ``nbytes`` written into the view ``reserve()`` returned.\n\n" \
    "Nothing may be written into that view afterwards. It may still be held (an event\n" \
    "loop that releases the buffer ``get_buffer()`` gave it only after ``buffer_updated()``\n" \
    "returns, as uvloop does, or a slice the caller kept): the bytes are kept all the same,\n" \
    "and until it is released it pins the buffer as a :meth:`view` does."

#define FILL_DOC \
    "_fill($self, read_into, /)\n--\n\n" \
    "One read straight into the buffer: the I/O adapters' way in, once per read.\n\n" \
    "Reserves spare capacity (the adaptive read size, capped by ``max_size``), calls\n" \
    "``read_into(view)`` once, keeps the count it returns, and gives the view back. It\n" \
    "returns what ``read_into`` returned: a count of bytes written at the start of the view,\n" \
    "``0`` (the adapter decides whether that is the end of the stream: ``_fill`` does not\n" \
    "record it), or ``None`` (nothing to read now). An exception from ``read_into``\n" \
    "propagates with nothing kept from that call.\n\n" \
    "Raises :class:`FrameLifecycleError` before calling ``read_into`` when the buffer cannot\n" \
    "take a read: a frame or a reservation is outstanding, the stream has ended, the buffer\n" \
    "holds ``max_size`` bytes, or a view of it is alive and the read needs the buffer to move\n" \
    "or grow. A view alive does not stop a read into capacity the buffer already has, and\n" \
    "whatever ``read_into`` delivered is kept even if it kept an export of the view."

#define VIEW_DOC \
    "view($self, /)\n--\n\n" \
    "A read-only view of the unconsumed bytes, without copying (not while a frame or a\n" \
    "reservation is outstanding: the frame is the view then).\n\n" \
    "While it is alive the buffer cannot move or grow: reads still land in the capacity it\n" \
    "has, and whatever needs more raises :class:`FrameLifecycleError`, with nothing lost, until\n" \
    "the view is released (``with mgr.view() as v: ...``)."

#define SIZEOF_DOC \
    "__sizeof__($self, /)\n--\n\n" \
    "The manager's size in memory, its buffer included."

#define SHRINK_DOC \
    "shrink($self, /)\n--\n\n" \
    "Give back the spare capacity kept for the next read: the buffer then holds just its\n" \
    "unconsumed bytes. For a connection about to sit idle (the asyncio reader calls it before\n" \
    "it waits with nothing buffered); reads work the same afterwards. Only an economy: while\n" \
    "a view of the buffer is alive it does nothing."

#define CLEAR_DOC \
    "clear($self, /)\n--\n\n" \
    "Drop every unconsumed byte: the recovery after a :class:`FrameTooLarge` or\n" \
    ":class:`FramingError` when the stream cannot be resynchronised. Works in every state,\n" \
    "as :meth:`discard` does."

#define DISCARD_DOC \
    "discard($self, n, /)\n--\n\n" \
    "Drop the first ``n`` unconsumed bytes, e.g. to skip past a corrupt frame: a recovery\n" \
    "after :class:`FrameTooLarge`.\n\n" \
    "Works in every state: an outstanding frame is ended (using it afterwards raises\n" \
    ":class:`FrameLifecycleError`), unless a view of it is alive, which is refused with\n" \
    "nothing changed; a reservation stays valid for its ``commit()``."

#define MAX_SIZE_DOC \
    "The most bytes one frame may occupy, or ``None`` for no limit. Settable: a new limit\n" \
    "is a recovery after :class:`FrameTooLarge`."

#define READ_SIZE_DOC \
    "The most bytes one read asks the source for. Settable."

#define ON_OVERFLOW_DOC \
    "``'error'`` or ``'discard'``: what a frame larger than ``max_size`` gets."

#define ON_EOF_DOC \
    "``'raise'`` or ``'frame'``: what a trailing partial frame becomes at the end."

#define AT_EOF_DOC \
    "True once the end of the stream was seen (``feed_eof()`` or a closed source)."

#define SKIPPED_DOC \
    "Bytes rules skipped as belonging to no frame (:class:`Skip`), over the stream's life."

#define FRAME_DOC \
    "One complete frame: a read-only, zero-copy view of its payload in the manager's buffer.\n\n" \
    "``bytes(frame)`` or ``frame.tobytes()`` copy the payload; ``frame.view`` is a read-only\n" \
    "``memoryview`` of it; ``len(frame)`` is its length; a frame compares equal to bytes-like\n" \
    "objects with the same content. ``frame.consume()`` removes the whole frame (header, " \
    "payload\n" \
    "and delimiter) from the buffer; ``with frame:`` consumes it on exit."

#define CONSUME_DOC \
    "consume($self, /)\n--\n\n" \
    "Remove this frame from the buffer. Raises :class:`FrameLifecycleError` if it was\n" \
    "already consumed, or if a view of it is still alive (then nothing changes)."

#define TOBYTES_DOC \
    "tobytes($self, /)\n--\n\n" \
    "A copy of the payload."

#define ENTER_DOC \
    "__enter__($self, /)\n--\n\n" \
    ""

#define EXIT_DOC \
    "__exit__($self, exc_type, exc, tb, /)\n--\n\n" \
    ""

#define FRAME_VIEW_DOC \
    "A read-only ``memoryview`` of the payload. Release it, and every slice or array made\n" \
    "from it, before ``consume()``."

#define CONSUMED_DOC \
    "True once this frame is no longer outstanding: ``consume()`` removed it, or\n" \
    "``clear()``/``discard()`` ended it."

#endif
