/* The bytes of a BufferManager: storage, moves, and the ways in (feed, reserve/commit, _fill).
 *
 * Layout of buf (absolute indices), as in the pure core:
 *
 *     0 ........ head ............. scan ............ tail ........ len(buf)
 *     | consumed | unconsumed, already examined | not yet examined | spare |
 *
 * Consuming only advances head; the consumed prefix is reclaimed when a read needs the room
 * (by sliding the unconsumed bytes to the front) or before a custom rule is called (which gets
 * the bytearray trimmed to exactly the unconsumed bytes). Nothing moves or resizes the bytes
 * while an export is alive (mgr->exports), so every view stays valid; an operation that would
 * need to raises FrameLifecycleError before it changes anything.
 */
#include "core.h"
#include <string.h>

#define MIN_READ_SIZE 256

const char EXPORTED_MESSAGE[] =
    "the buffer is still exported: a slice of frame.view, memoryview(frame), an array built on "
    "the frame, or BufferManager.view() is alive; release it, then try again";

const char BUSY_MESSAGE[] =
    "this BufferManager is already in use: a rule or a read it called is still running (a "
    "manager belongs to one thread, and its rules and sources must not call back into it)";

PyObject *
lifecycle_error(const char *message)
{
    PyErr_SetString(FrameLifecycleError, message);
    return NULL;
}

/* What may hold a view of the outstanding frame: named by every error a live view causes. */
const char VIEWS_MESSAGE[] =
    "frame.view, a slice of it, memoryview(frame), an array built on it, or a "
    "BufferManager.view() taken before";

PyObject *
outstanding_error(Manager *m)
{
    if (m->lent == LENT_RESERVED) {
        return lifecycle_error("reserve() is waiting for its commit(): call commit() first");
    }
    if (m->exports > 0) {
        /* A view keeps its frame alive: it may be all the program still holds. */
        PyErr_Format(FrameLifecycleError,
                     "the previous frame (%zd bytes) is still outstanding: call frame.consume() "
                     "(or use 'with frame:') before reading the next one; a view of it is still "
                     "alive (%s), and a frame dropped unconsumed goes back to the buffer only "
                     "once its views are released",
                     m->end - m->start, VIEWS_MESSAGE);
        return NULL;
    }
    PyErr_Format(FrameLifecycleError,
                 "the previous frame (%zd bytes) is still outstanding: call frame.consume() (or "
                 "use 'with frame:') before reading the next one",
                 m->end - m->start);
    return NULL;
}

/* The checks every operation that reads or changes the bytes starts with. */
int
check_idle(Manager *m)
{
    if (m->busy) {
        lifecycle_error(BUSY_MESSAGE);
        return -1;
    }
    if (m->lent != LENT_NONE) {
        outstanding_error(m);
        return -1;
    }
    return 0;
}

Py_ssize_t
backlog_bytes(Manager *m)
{
    return m->backlog == NULL ? 0 : m->backlog_size;
}

/* ------------------------------------------------------------------------------------------ */
/* Moving bytes: only while nothing is exported. */

/* Resize the bytearray; FrameLifecycleError if a view pins it (ours, or one a rule kept). */
int
resize(Manager *m, Py_ssize_t size)
{
    if (m->exports > 0) {
        lifecycle_error(EXPORTED_MESSAGE);
        return -1;
    }
    if (PyByteArray_Resize(m->buf, size) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            lifecycle_error(EXPORTED_MESSAGE);
        }
        return -1;
    }
    m->moves++;
    return 0;
}

static void
shift(Manager *m, Py_ssize_t by)
{
    m->head -= by;
    m->tail -= by;
    m->scan -= by;
    if (m->lent == LENT_FRAME) {
        m->start -= by;
        m->end -= by;
        m->consume -= by;
    }
}

/* Delete the consumed prefix, so that index 0 is the first unconsumed byte. */
int
compact(Manager *m)
{
    Py_ssize_t head = m->head;
    if (head == 0) {
        return 0;
    }
    if (m->exports > 0) {
        lifecycle_error(EXPORTED_MESSAGE);
        return -1;
    }
    if (PySequence_DelSlice(m->buf, 0, head) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {
            PyErr_Clear();
            lifecycle_error(EXPORTED_MESSAGE);
        }
        return -1;
    }
    m->moves++;
    shift(m, head);
    return 0;
}

/* Compact and drop the spare capacity: the bytearray then holds exactly the unconsumed bytes,
 * as the rule contract promises a custom rule. */
int
trim(Manager *m)
{
    if (compact(m) < 0) {
        return -1;
    }
    if (CAPACITY(m) != m->tail) {
        return resize(m, m->tail);
    }
    return 0;
}

static PyObject *
full_error(Manager *m)
{
    PyErr_Format(FrameLifecycleError,
                 "the buffer is full (%zd bytes, max_size=%zd): take the buffered frames with "
                 "next_frame() before reading more",
                 m->tail - m->head + backlog_bytes(m), m->limit);
    return NULL;
}

/* The capacity policy (the pure core's _capacity.fit and Storage._slide, in C).
 *
 * Reads land in capacity the bytearray already has. While a large frame arrives the buffer
 * holds the frame plus about two reads: CPython's bytearray over-allocates an eighth on a
 * resize growing it by less than an eighth, and allocates exactly on a larger one, so the
 * buffer grows by this read plus the next while that is more than an eighth (exact); to the
 * end of a frame whose header gave its size in one step once that end is within an eighth;
 * and otherwise by the smallest step, the eighth CPython adds being room the next reads fill.
 * Amortized linear time either way; a declared size commits nothing by itself. */

#define SLACK 4096
#define AHEAD (128 * 1024)

/* The bytes CPython allocated for the bytearray (its length, spare, a trailing NUL): the
 * object's ob_alloc, which bytearray.__sizeof__ reports too. Only the growth policy reads it. */
static Py_ssize_t
allocated(Manager *m)
{
    return ((PyByteArrayObject *)m->buf)->ob_alloc;
}

/* The capacity to keep from head on: the unconsumed bytes, or the last frame if it was larger
 * (a stream of large frames keeps its buffer), plus the next read, and at least SLACK. */
static Py_ssize_t
capacity_wanted(Manager *m, Py_ssize_t size)
{
    Py_ssize_t kept = m->tail - m->head;
    Py_ssize_t last = m->consume - m->start;
    return (kept > last ? kept : last) + (size > SLACK ? size : SLACK);
}

/* Whether to slide the unconsumed bytes to the front before size more bytes arrive: the
 * consumed prefix is over half the buffer, or the bytes do not fit otherwise and it is at
 * least as long as what stays, or the buffer holds far more than the next frame needs. */
static int
worth_sliding(Manager *m, Py_ssize_t size)
{
    Py_ssize_t head = m->head, end = CAPACITY(m);
    if (head > end / 2 || (head && m->tail + size > end && 2 * head >= m->tail)) {
        return 1;
    }
    return end - head > 2 * capacity_wanted(m, size);
}

/* Move the unconsumed bytes to the front; give back capacity beyond twice what the next frame
 * needs, and leave at least SLACK bytes of room. Only while nothing is exported. */
static int
slide(Manager *m)
{
    if (m->exports > 0) {
        lifecycle_error(EXPORTED_MESSAGE);
        return -1;
    }
    Py_ssize_t wanted = capacity_wanted(m, m->next_read);
    Py_ssize_t head = m->head, kept = m->tail - head;
    if (head) {
        memmove(DATA(m), DATA(m) + head, (size_t)kept);
        m->moves++;
        shift(m, head);
    }
    if (CAPACITY(m) > 2 * wanted) {
        return resize(m, wanted);
    }
    if (CAPACITY(m) < kept + SLACK) {
        return resize(m, kept + SLACK);
    }
    return 0;
}

/* Room for a read of size bytes at at, growing the buffer by the policy above, and lengthened
 * up to ahead bytes further where CPython already allocated them. frame_end is where the frame
 * being received ends when its header said (else 0): the buffer grows to it exactly when it is
 * within reach, and a read stops at the allocation once the frame ends within it. Returns the
 * size to read, or -1. */
static Py_ssize_t
fit(Manager *m, Py_ssize_t at, Py_ssize_t size, Py_ssize_t ahead, Py_ssize_t frame_end)
{
    Py_ssize_t end = at + size;
    if (end <= CAPACITY(m)) {
        return size;
    }
    Py_ssize_t held = allocated(m);   /* usable: held - 1, for the trailing NUL */
    if (end >= held) {
        if (at < frame_end && frame_end < held) {
            /* The frame fits: read up to the allocation, not beyond. */
            return resize(m, held - 1) < 0 ? -1 : held - 1 - at;
        }
        Py_ssize_t wanted = end + (size < at ? size : at);   /* this read and the next */
        if (at < frame_end && (frame_end <= wanted + (wanted >> 3)
                               || frame_end - m->head <= m->consume - m->start)) {
            /* The frame ends within an eighth of that, or is no larger than the last frame
             * (the buffer held one like it already): grow to its end now, in one exact step,
             * rather than by steps small enough for CPython to over-allocate (and copy). */
            wanted = end > frame_end ? end : frame_end;
        }
        if (8.0 * (double)wanted > 9.0 * (double)held) {
            return resize(m, wanted) < 0 ? -1 : size;   /* more than an eighth: exact */
        }
        /* Less: one byte more than is held makes CPython add an eighth of what it holds,
         * which covers this read and the next ones. */
        if (resize(m, held) < 0) {
            return -1;
        }
        held = allocated(m);
    }
    Py_ssize_t longest = end + ahead < held - 1 ? end + ahead : held - 1;
    return resize(m, end > longest ? end : longest) < 0 ? -1 : size;
}

/* Make room for size more bytes at tail, within max_size; returns the size to read (with
 * shorter, less when the frame being received ends within the capacity held), or -1.
 * Refuses before anything moves when the buffer is full, or when a view blocks a move the
 * read needs (a slide that is only an economy waits for the view to go). */
Py_ssize_t
make_room(Manager *m, Py_ssize_t size, int shorter)
{
    Py_ssize_t room = m->limit - (m->tail - m->head);
    if (room <= 0) {
        full_error(m);
        return -1;
    }
    if (size > room) {
        size = room;
    }
    if (worth_sliding(m, size)) {
        if (m->exports == 0) {
            if (slide(m) < 0) {
                return -1;
            }
        }
        else if (m->tail + size > CAPACITY(m)) {
            lifecycle_error(EXPORTED_MESSAGE);
            return -1;
        }
    }
    /* A custom rule's buffer is trimmed before each call (unless it waits for a frame of known
     * size): lengthening it beyond this read would only be trimmed again. */
    Py_ssize_t ahead = m->spec.kind != KIND_CUSTOM || m->want ? AHEAD : 0;
    Py_ssize_t frame_end = m->want && shorter ? m->head + m->want : 0;
    if (frame_end < 0) {
        frame_end = 0;   /* a declared size past PY_SSIZE_T_MAX: never within reach */
    }
    if (m->tail + size > CAPACITY(m) && m->exports > 0) {
        lifecycle_error(EXPORTED_MESSAGE);
        return -1;
    }
    return fit(m, m->tail, size, ahead, frame_end);
}

Py_ssize_t
next_read_size(Py_ssize_t got, Py_ssize_t asked, Py_ssize_t most)
{
    Py_ssize_t wanted = got == asked ? 2 * got : got;
    if (wanted < MIN_READ_SIZE) {
        wanted = MIN_READ_SIZE;
    }
    return wanted > most ? most : wanted;
}

/* Append the bytes fed while the buffer was lent out, once it is free. FrameLifecycleError,
 * with nothing lost, while a view that blocks the move is alive. */
int
flush_backlog(Manager *m)
{
    PyObject *backlog = m->backlog;
    if (backlog == NULL || m->lent != LENT_NONE) {
        return 0;
    }
    Py_ssize_t size = m->backlog_size;
    if (m->tail + size > CAPACITY(m)) {
        if (m->exports > 0) {
            lifecycle_error(EXPORTED_MESSAGE);
            return -1;
        }
        if (compact(m) < 0 || resize(m, m->tail + size) < 0) {
            return -1;
        }
    }
    char *at = DATA(m) + m->tail;
    Py_ssize_t n = PyList_GET_SIZE(backlog);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *chunk = PyList_GET_ITEM(backlog, i);
        memcpy(at, PyBytes_AS_STRING(chunk), (size_t)PyBytes_GET_SIZE(chunk));
        at += PyBytes_GET_SIZE(chunk);
    }
    m->tail += size;
    m->backlog = NULL;
    m->backlog_size = 0;
    Py_DECREF(backlog);
    return 0;
}

/* The buffer was just handed back (consume, commit): flush now if possible, otherwise at the
 * next read (handing back must not fail because a view blocks the flush). */
void
settle_backlog(Manager *m)
{
    if (flush_backlog(m) < 0) {
        PyErr_Clear();
        Py_CLEAR(m->rule);   /* routes the next next_frame() to the flush */
    }
}

/* The delimiter search, counted: a failed search examined its range, one that succeeds the
 * bytes up to the end of the match (what the linearity tests add up). */
Py_ssize_t
search(Manager *m, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t index = find_delim(&m->spec, DATA(m), from, to);
    Py_ssize_t end = index < 0 ? to : index + m->spec.delim_len;
    if (end > from) {
        m->examined += (unsigned long long)(end - from);
    }
    return index;
}

/* ------------------------------------------------------------------------------------------ */
/* Bytes in */

/* FrameTooLarge for a chunk that would leave more than max_size bytes waiting. */
static void
refuse_feed(Manager *m, Py_ssize_t size, Py_ssize_t waiting)
{
    PyObject *exc = PyObject_CallFunction(FrameTooLarge, "nn", m->limit, waiting);
    if (exc == NULL) {
        return;
    }
    PyObject *args = Py_BuildValue(
        "(N)", PyUnicode_FromFormat(
                   "feed() refused %zd bytes: %zd bytes already wait behind the outstanding "
                   "frame or view, max_size=%zd; consume the frame (or release the view), then "
                   "feed them again",
                   size, waiting - size, m->limit));
    if (args != NULL && PyObject_SetAttrString(exc, "args", args) == 0) {
        PyErr_SetObject(FrameTooLarge, exc);
    }
    Py_XDECREF(args);
    Py_DECREF(exc);
}

PyObject *
manager_feed(Manager *m, PyObject *data)
{
    if (m->busy) {
        return lifecycle_error(BUSY_MESSAGE);
    }
    if (m->eof) {
        return lifecycle_error("feed() after feed_eof(): the stream has ended");
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t n = view.len;
    if (m->lent == LENT_NONE && m->backlog != NULL && flush_backlog(m) < 0) {
        PyErr_Clear();   /* the view that kept them waiting is still alive */
    }
    /* Bytes fed while the buffer is lent out (a frame, a reservation) or pinned by a view
     * wait behind it, in order, up to max_size of them: a peer cannot grow them without end. */
    Py_ssize_t waiting = m->backlog_size + n;
    if (m->lent == LENT_FRAME) {
        waiting += m->tail - m->consume;
    }
    int blocked = m->lent != LENT_NONE || m->backlog != NULL;
    int direct = m->lent != LENT_RESERVED && m->backlog == NULL;
    if (direct && m->tail + n > CAPACITY(m)) {
        /* Growing moves the bytes: only while nothing (this data included) is exported. */
        direct = m->exports == 0
            && (m->head == 0 || m->lent != LENT_NONE || compact(m) == 0)
            && resize(m, m->tail + n) == 0;
        if (!direct) {
            PyErr_Clear();
        }
    }
    if (blocked && waiting > m->limit) {
        PyBuffer_Release(&view);
        refuse_feed(m, n, waiting);
        return NULL;
    }
    if (direct) {
        memcpy(DATA(m) + m->tail, view.buf, (size_t)n);
        m->tail += n;
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    PyObject *chunk = PyBytes_FromStringAndSize(view.buf, n);
    PyBuffer_Release(&view);
    if (chunk == NULL) {
        return NULL;
    }
    if (m->backlog == NULL) {
        m->backlog = PyList_New(0);
        if (m->backlog == NULL) {
            Py_DECREF(chunk);
            return NULL;
        }
    }
    int failed = PyList_Append(m->backlog, chunk);
    Py_DECREF(chunk);
    if (failed) {
        return NULL;
    }
    m->backlog_size += n;
    Py_CLEAR(m->rule);   /* the next read flushes first */
    Py_RETURN_NONE;
}

PyObject *
manager_feed_eof(Manager *m, PyObject *unused)
{
    m->eof = 1;
    Py_RETURN_NONE;
}

PyObject *
manager_reserve(Manager *m, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"size", NULL};
    PyObject *size_arg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:reserve", keywords, &size_arg)) {
        return NULL;
    }
    if (m->eof) {
        return lifecycle_error("reserve() after feed_eof(): the stream has ended");
    }
    if (check_idle(m) < 0) {
        return NULL;
    }
    Py_ssize_t size = m->next_read;
    if (size_arg != Py_None) {
        size = PyNumber_AsSsize_t(size_arg, PyExc_OverflowError);
        if (size == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (size < 1) {
            PyErr_Format(PyExc_ValueError,
                         "reserve() needs a positive size or None, got %zd", size);
            return NULL;
        }
    }
    if (flush_backlog(m) < 0) {
        return NULL;
    }
    size = make_room(m, size, size_arg == Py_None);
    if (size < 0) {
        return NULL;
    }
    PyObject *span = NULL;
    PyObject *view = span_view(m, m->tail, size, 1, &span);
    if (view == NULL) {
        return NULL;
    }
    m->reserved_view = Py_NewRef(view);
    m->reserved_span = span;
    m->reserved_size = size;
    m->lent = LENT_RESERVED;
    return view;
}

/* Release the reservation's own view (whoever holds it), and say whether the reservation is
 * still exported by something derived from it. */
static int
reservation_exported(Manager *m)
{
    PyObject *done = PyObject_CallMethod(m->reserved_view, "release", NULL);
    if (done == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            return -1;
        }
        PyErr_Clear();   /* re-exported: counted below */
    }
    Py_XDECREF(done);
    return ((SpanObject *)m->reserved_span)->exports > 0;
}

PyObject *
manager_commit(Manager *m, PyObject *arg)
{
    if (m->reserved_view == NULL) {
        return lifecycle_error("commit() without reserve()");
    }
    Py_ssize_t nbytes = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (nbytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (nbytes < 0 || nbytes > m->reserved_size) {
        PyErr_Format(PyExc_ValueError, "commit(%zd) outside the %zd reserved bytes", nbytes,
                     m->reserved_size);
        return NULL;
    }
    int exported = reservation_exported(m);
    if (exported < 0) {
        return NULL;
    }
    if (exported) {
        return lifecycle_error("the view reserve() returned is still exported (a slice of it, "
                               "or an array on it); release it, then commit() again");
    }
    Py_CLEAR(m->reserved_view);
    Py_CLEAR(m->reserved_span);
    m->lent = LENT_NONE;
    m->tail += nbytes;
    m->next_read = next_read_size(nbytes, m->reserved_size, m->max_read);
    /* A reservation much larger than what came (the first read of a connection asks for
     * read_size): keep about the next read's room, so that a connection waiting with a
     * partial frame holds little. Only an economy: a view alive postpones it. */
    Py_ssize_t keep = m->next_read + SLACK;
    if (nbytes < m->reserved_size && CAPACITY(m) - m->tail > 2 * keep && m->exports == 0) {
        if (resize(m, m->tail + keep) < 0) {
            PyErr_Clear();
        }
    }
    if (m->backlog != NULL) {
        settle_backlog(m);
    }
    Py_RETURN_NONE;
}

/* One zero-copy read for the I/O adapters: reserve, read_into(view), commit, in one call.
 * Refuses before calling read_into when the bytes would have to move under a live view, and
 * keeps whatever read_into delivered. Returns 0 with *got set to what read_into returned (a
 * new reference), or -1. */
int
manager_fill_count(Manager *m, PyObject *read_into, PyObject **got)
{
    *got = NULL;
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return -1;
    }
    Py_ssize_t size = m->next_read;
    Py_ssize_t end = CAPACITY(m), head = m->head, at = m->tail;
    /* Most reads land in the spare capacity as it is; the rest make room (no room, a long
     * consumed prefix, the limit near, capacity to give back). */
    if (at + size > end || head > end / 2 || at - head + size > m->limit
        || (end - head > 2 * size + 2 * SLACK && end - head > 2 * capacity_wanted(m, size))) {
        size = make_room(m, size, 1);
        if (size < 0) {
            return -1;
        }
    }
    PyObject *span = read_span(m, m->tail, size);
    if (span == NULL) {
        return -1;
    }
    /* A function written in C takes the span itself: it asks for the buffer, writes, and
     * gives it back before returning (its count of exports then says whether it kept one). A
     * Python one gets a memoryview, which it may slice, and which is released after it. */
    int direct = PyCFunction_Check(read_into);
    PyObject *view = direct ? Py_NewRef(span) : PyMemoryView_FromObject(span);
    if (view == NULL) {
        Py_DECREF(span);
        return -1;
    }
    m->busy = 1;
    PyObject *result = PyObject_CallOneArg(read_into, view);
    m->busy = 0;
    if (!direct) {
        /* Release the view the source was given; a source that re-exported it (or kept a
         * slice) keeps the span's count up, reported below once the bytes are kept. */
        PyObject *error = take_error();
        PyObject *released = PyObject_CallMethodNoArgs(view, str_release);
        if (released == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(released);
        restore_error(error);
    }
    Py_DECREF(view);
    Py_ssize_t count = 0;
    if (result != NULL && result != Py_None) {
        count = PyNumber_AsSsize_t(result, PyExc_OverflowError);
        if (count == -1 && PyErr_Occurred()) {
            Py_CLEAR(result);
            count = 0;
        }
        else if (count < 0 || count > size) {
            PyErr_Format(PyExc_ValueError, "%R returned %zd for a buffer of %zd bytes",
                         read_into, count, size);
            Py_CLEAR(result);
            count = 0;
        }
    }
    m->tail += count;   /* kept, whatever happens next */
    if (result != NULL) {   /* a read that raised says nothing of the next one's size */
        m->next_read = next_read_size(count, size, m->max_read);
    }
    int kept_export = ((SpanObject *)span)->exports > 0;
    Py_DECREF(span);
    if (result == NULL) {
        return -1;
    }
    if (kept_export) {
        Py_DECREF(result);
        PyErr_Format(FrameLifecycleError,
                     "%R kept an export of the buffer it was given; the bytes it read are "
                     "buffered: release the export, then read on", read_into);
        return -1;
    }
    *got = result;
    return 0;
}

PyObject *
manager_fill(Manager *m, PyObject *read_into)
{
    PyObject *got;
    return manager_fill_count(m, read_into, &got) < 0 ? NULL : got;
}
