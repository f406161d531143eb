/* The ways bytes come in: feed(), reserve()/commit() and _fill(), the pure core's _reads (and
 * Storage.feed). A read is refused, if it must be, before it takes anything from the source:
 * what a source delivered is always kept. Calls down: storage.c (room, moves, the backlog) and
 * span.c (the exporters a read or a reservation writes through).
 */
#include "core.h"
#include <string.h>

/* FrameTooLarge for a chunk that would leave more than max_size bytes waiting. */
static void
refuse_feed(Manager *m, Py_ssize_t size, Py_ssize_t waiting)
{
    PyObject *limit = limit_value(m);
    if (limit == NULL) {
        return;
    }
    PyObject *exc = PyObject_CallFunction(m->state->FrameTooLarge, "On", limit, waiting);
    if (exc == NULL) {
        Py_DECREF(limit);
        return;
    }
    PyObject *args = Py_BuildValue(
        "(N)", PyUnicode_FromFormat(
                   "feed() refused %zd bytes: %zd bytes already wait behind the outstanding "
                   "frame or view, max_size=%S; consume the frame (or release the view), then "
                   "feed them again",
                   size, waiting - size, limit));
    Py_DECREF(limit);
    if (args != NULL && PyObject_SetAttrString(exc, "args", args) == 0) {
        PyErr_SetObject(m->state->FrameTooLarge, exc);
    }
    Py_XDECREF(args);
    Py_DECREF(exc);
}

static PyObject *
feed(Manager *m, PyObject *data)
{
    if (m->eof) {
        return lifecycle_error(m, "feed() after feed_eof(): the stream has ended");
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_ssize_t n = view.len;
    if (m->lent == LENT_NONE && m->backlog != NULL && flush_backlog(m) < 0) {
        PyErr_Clear(); /* the view that kept them waiting is still alive */
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
        direct = m->exports == 0 && (m->head == 0 || m->lent != LENT_NONE || compact(m) == 0)
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
    Py_CLEAR(m->rule); /* the next read flushes first */
    Py_RETURN_NONE;
}

PyObject *
manager_feed(Manager *m, PyObject *data)
{
    return while_busy(m, feed, data);
}

PyObject *
manager_feed_eof(Manager *m, PyObject *unused)
{
    m->eof = 1;
    Py_RETURN_NONE;
}

static PyObject *
reserve(Manager *m, PyObject *size_arg)
{
    if (m->eof) {
        return lifecycle_error(m, "reserve() after feed_eof(): the stream has ended");
    }
    if (check_idle(m) < 0) {
        return NULL;
    }
    Py_ssize_t size = m->next_read;
    if (size_arg != Py_None) {
        PyObject *number = PyNumber_Index(size_arg); /* clamped below: too large is too large */
        size = number == NULL ? -1 : PyNumber_AsSsize_t(number, NULL);
        if (size == -1 && PyErr_Occurred()) {
            Py_XDECREF(number);
            return NULL;
        }
        if (size < 1 || size > MOST_BYTES) {
            if (size < 1) {
                PyErr_Format(PyExc_ValueError, "reserve() needs a positive size or None, got %S",
                             number);
            }
            else {
                PyErr_Format(PyExc_ValueError,
                             "reserve() needs a size of at most %zd bytes (no buffer holds more), "
                             "got %S",
                             (Py_ssize_t)MOST_BYTES, number);
            }
            Py_DECREF(number);
            return NULL;
        }
        Py_DECREF(number);
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

PyObject *
manager_reserve(Manager *m, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"size", NULL};
    PyObject *size_arg = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:reserve", keywords, &size_arg)) {
        return NULL;
    }
    return while_busy(m, reserve, size_arg);
}

/* Keep the first nbytes written into the reserved view. The view may still be held (a loop that
 * releases what get_buffer() gave it only after buffer_updated() returns, as uvloop does): the
 * bytes are kept all the same, and its export pins the storage until released, as view()'s do. */
static PyObject *
commit(Manager *m, PyObject *arg)
{
    if (m->reserved_view == NULL) {
        return lifecycle_error(m, "commit() without reserve()");
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
    /* Our own view goes now unless it is held (a memoryview we made: no Python code runs);
     * what holds it keeps the span, and the span the manager, so the count of exports stays
     * exact. */
    PyObject *done = PyObject_CallMethod(m->reserved_view, "release", NULL);
    if (done == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            return NULL;
        }
        PyErr_Clear();
    }
    Py_XDECREF(done);
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

PyObject *
manager_commit(Manager *m, PyObject *arg)
{
    return while_busy(m, commit, arg);
}

/* Whether read_into is given the manager's reusable exporter itself (safety rule 6): a read
 * function of the core's own list, C code known to take the buffer, write and give it back
 * before returning, recognised by its C function (found at import, see module.c). A Python
 * subclass overriding the method gives a Python function, never one of these. */
static int
trusted_reader(Manager *m, PyObject *read_into)
{
    if (!PyCFunction_Check(read_into)) {
        return 0;
    }
    PyCFunction function = PyCFunction_GET_FUNCTION(read_into);
    for (int i = 0; i < TRUSTED_READERS; i++) {
        if (m->state->trusted_readers[i] != NULL && function == m->state->trusted_readers[i]) {
            return 1;
        }
    }
    return 0;
}

/* One zero-copy read for the I/O adapters: reserve, read_into(view), commit, in one call.
 * Refuses before calling read_into when the bytes would have to move under a live view, and
 * keeps whatever read_into delivered. Returns 0 with *got set to what read_into returned (a
 * new reference), or -1. */
static int
fill(Manager *m, PyObject *read_into, PyObject **got)
{
    *got = NULL;
    if (check_idle(m) < 0) {
        return -1;
    }
    if (m->eof) {
        lifecycle_error(m, "a read after the end of the stream");
        return -1;
    }
    if (flush_backlog(m) < 0) {
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
    /* A trusted reader takes the reusable span itself: it asks for the buffer, writes, and
     * gives it back before returning (its count of exports then says whether it kept one).
     * Any other gets a memoryview of a span of its own, released after it and closed, so
     * that neither can be used to write into the buffer once the read is over. */
    int direct = trusted_reader(m, read_into);
    PyObject *span = read_span(m, m->tail, size, direct);
    if (span == NULL) {
        return -1;
    }
    PyObject *view = direct ? Py_NewRef(span) : PyMemoryView_FromObject(span);
    if (view == NULL) {
        Py_DECREF(span);
        return -1;
    }
    PyObject *result = PyObject_CallOneArg(read_into, view);
    if (!direct) {
        ((SpanObject *)span)->closed = 1;
        /* Release the view the source was given; a source that re-exported it (or kept a
         * slice) keeps the span's count up, reported below once the bytes are kept. */
        PyObject *error = take_error();
        PyObject *released = PyObject_CallMethodNoArgs(view, m->state->str_release);
        if (released == NULL) {
            PyErr_Clear();
        }
        Py_XDECREF(released);
        restore_error(error);
    }
    Py_DECREF(view);
    Py_ssize_t count = 0;
    if (result != NULL && result != Py_None) {
        /* An int, as the pure core converts it (__index__, under the busy mark); clamped, so
         * that one too large is the ValueError below. */
        PyObject *number = PyNumber_Index(result);
        Py_DECREF(result);
        result = number;
        count = result == NULL ? 0 : PyNumber_AsSsize_t(result, NULL);
        if (count == -1 && PyErr_Occurred()) {
            Py_CLEAR(result);
            count = 0;
        }
        else if (count < 0 || count > size) {
            PyErr_Format(PyExc_ValueError, "%R returned %R for a %zd-byte view", read_into, result,
                         size);
            Py_CLEAR(result);
            count = 0;
        }
    }
    m->tail += count;     /* kept, whatever happens next */
    if (result != NULL) { /* a read that raised says nothing of the next one's size */
        m->next_read = next_read_size(count, size, m->max_read);
    }
    int kept_export = ((SpanObject *)span)->exports > 0;
    Py_DECREF(span);
    if (result == NULL) {
        return -1;
    }
    if (kept_export) {
        Py_DECREF(result);
        PyErr_Format(m->state->FrameLifecycleError,
                     "%R kept an export of the buffer it was given; the bytes it read are "
                     "buffered: release the export, then read on",
                     read_into);
        return -1;
    }
    *got = result;
    return 0;
}

int
manager_fill_count(Manager *m, PyObject *read_into, PyObject **got)
{
    *got = NULL;
    if (enter(m) < 0) {
        return -1;
    }
    int status = fill(m, read_into, got);
    leave(m);
    return status;
}

PyObject *
manager_fill(Manager *m, PyObject *read_into)
{
    PyObject *got;
    return manager_fill_count(m, read_into, &got) < 0 ? NULL : got;
}
