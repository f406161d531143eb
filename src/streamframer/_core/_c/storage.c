/* The bytes of a BufferManager: storage, moves, the capacity policy, the backlog. Calls down:
 * rules.c (the counted delimiter search).
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
    "this BufferManager is already in use: a call from another thread (or from inside a rule "
    "or a read callback) overlapped this one; a manager serves one thread at a time";

PyObject *
lifecycle_error(Manager *m, const char *message)
{
    PyErr_SetString(m->state->FrameLifecycleError, message);
    return NULL;
}

PyObject *
outstanding_error(Manager *m)
{
    if (m->lent == LENT_RESERVED) {
        return lifecycle_error(m, "reserve() is waiting for its commit(): call commit() first");
    }
    if (m->exports > 0) {
        /* A view keeps its frame alive: it may be all the program still holds. */
        PyErr_Format(m->state->FrameLifecycleError,
                     "the previous frame (%zd bytes) is still outstanding: call frame.consume() "
                     "(or use 'with frame:') before reading the next one; a view of it is still "
                     "alive (%s), and a frame dropped unconsumed goes back to the buffer only "
                     "once its views are released",
                     m->end - m->start, VIEWS_MESSAGE);
        return NULL;
    }
    PyErr_Format(m->state->FrameLifecycleError,
                 "the previous frame (%zd bytes) is still outstanding: call frame.consume() (or "
                 "use 'with frame:') before reading the next one",
                 m->end - m->start);
    return NULL;
}

/* The check every operation that reads or changes the bytes starts with, under the busy mark:
 * the buffer is not lent out. */
int
check_idle(Manager *m)
{
    if (m->lent != LENT_NONE) {
        outstanding_error(m);
        return -1;
    }
    return 0;
}

/* max_size as given (None for no limit): for reading back and for messages. */
PyObject *
limit_value(Manager *m)
{
    if (m->limit_exact != NULL) {
        return Py_NewRef(m->limit_exact);
    }
    return PyLong_FromSsize_t(m->limit);
}

Py_ssize_t
backlog_bytes(Manager *m)
{
    return m->backlog == NULL ? 0 : m->backlog_size;
}

/* ------------------------------------------------------------------------------------------ */
/* Moving bytes: only while nothing is exported. */

/* The manager's own export of its bytearray (safety rule 5): once a custom rule has been
 * given the bytearray, nobody but the manager may resize it, and the manager lets go of the
 * pin only for the instant of its own resizes (unpinned()). */
int
pin(Manager *m)
{
    if (m->pinned) {
        return 0;
    }
    if (PyObject_GetBuffer(m->buf, &m->pin, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    m->pinned = 1;
    return 0;
}

void
unpin(Manager *m)
{
    if (m->pinned) {
        m->pinned = 0;
        PyBuffer_Release(&m->pin);
    }
}

/* A resize or deletion of the bytearray, the manager's pin let go around it; -1 with
 * FrameLifecycleError if a view pins it (ours, or one a rule kept). */
static int
unpinned(Manager *m, int (*change)(PyObject *, Py_ssize_t), Py_ssize_t size)
{
    if (m->exports > 0) {
        lifecycle_error(m, EXPORTED_MESSAGE);
        return -1;
    }
    int pinned = m->pinned;
    unpin(m);
    int status = change(m->buf, size);
    if (status < 0 && PyErr_ExceptionMatches(PyExc_BufferError)) {
        PyErr_Clear();
        lifecycle_error(m, EXPORTED_MESSAGE);
    }
    if (pinned && pin(m) < 0) {
        status = -1;
    }
    if (status == 0) {
        m->moves++;
    }
    return status;
}

static int
delete_front(PyObject *buf, Py_ssize_t n)
{
    return PySequence_DelSlice(buf, 0, n);
}

/* Resize the bytearray; FrameLifecycleError if a view pins it (ours, or one a rule kept). */
int
resize(Manager *m, Py_ssize_t size)
{
    return unpinned(m, PyByteArray_Resize, size);
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
    if (unpinned(m, delete_front, head) < 0) {
        return -1;
    }
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
    PyObject *limit = limit_value(m);
    if (limit != NULL) {
        PyErr_Format(m->state->FrameLifecycleError,
                     "the buffer is full (%zd bytes, max_size=%S): take the buffered frames "
                     "with next_frame() before reading more",
                     m->tail - m->head + backlog_bytes(m), limit);
        Py_DECREF(limit);
    }
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
Py_ssize_t
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
        lifecycle_error(m, EXPORTED_MESSAGE);
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
    if (size > MOST_BYTES - m->tail) {
        /* No allocation holds that much; refused before the sums below could overflow. */
        PyErr_SetString(PyExc_OverflowError, "byte string is too large");
        return -1;
    }
    if (worth_sliding(m, size)) {
        if (m->exports == 0) {
            if (slide(m) < 0) {
                return -1;
            }
        }
        else if (m->tail + size > CAPACITY(m)) {
            lifecycle_error(m, EXPORTED_MESSAGE);
            return -1;
        }
    }
    /* A custom rule's buffer is trimmed before each call (unless it waits for a frame of known
     * size): lengthening it beyond this read would only be trimmed again. */
    Py_ssize_t ahead = m->spec.kind != KIND_CUSTOM || m->want ? AHEAD : 0;
    /* A declared size past what any buffer holds saturates: never within reach. */
    Py_ssize_t frame_end = m->want && shorter ? size_sum(m->head, m->want) : 0;
    if (m->tail + size > CAPACITY(m) && m->exports > 0) {
        lifecycle_error(m, EXPORTED_MESSAGE);
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
            lifecycle_error(m, EXPORTED_MESSAGE);
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
