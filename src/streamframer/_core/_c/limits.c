/* Limits and the end of the stream (the pure core's _limits): what happens when a frame does
 * not fit in max_size, or the stream ends inside one. Off the per-frame path. Calls down:
 * rulecall.c (the rule finds where an oversized frame ends) and frame.c (frame_new).
 */
#include "core.h"

/* Raise type(max_size, value) (FrameTooLarge, FrameDiscarded); steals value. Returns -1. */
static int
limit_error(Manager *m, PyObject *type, PyObject *value)
{
    PyObject *limit = limit_value(m);
    if (limit != NULL && value != NULL) {
        PyObject *exc = PyObject_CallFunctionObjArgs(type, limit, value, NULL);
        if (exc != NULL) {
            PyErr_SetObject(type, exc);
            Py_DECREF(exc);
        }
    }
    Py_XDECREF(limit);
    Py_XDECREF(value);
    return -1;
}

static int
report_discard(Manager *m)
{
    Py_ssize_t discarded = m->discarded < 0 ? 0 : m->discarded;
    m->discarded = -1;
    m->skip = 0;
    m->want = 0;
    return limit_error(m, m->state->FrameDiscarded, PyLong_FromSsize_t(discarded));
}

static void
drop(Manager *m, Py_ssize_t n)
{
    m->head += n;
    if (m->scan < m->head) {
        m->scan = m->head;
    }
    m->discarded += n;
}

/* FrameTooLarge for a frame of size bytes (stolen: an int, or NULL with an error set). */
static int
overflow_error(Manager *m, PyObject *size)
{
    m->overflowed = 1;
    Py_CLEAR(m->rule); /* routes the next next_frame() to the "recover first" error */
    return limit_error(m, m->state->FrameTooLarge, size);
}

/* Drop what is known to belong to the oversized frame; FrameDiscarded once all of it is gone.
 * rule (or NULL) finds where the frame ends when its size is unknown. Returns 0 (still inside
 * the frame) or -1 with an error set. */
int
discard_step(Manager *m, PyObject *rule)
{
    if (m->skip > 0) { /* the size is known from a header: drop exactly that many bytes */
        Py_ssize_t buffered = m->tail - m->head;
        Py_ssize_t n = m->skip < buffered ? m->skip : buffered;
        drop(m, n);
        m->skip -= n;
        if (m->skip == 0 || m->eof) {
            return report_discard(m); /* at the end of the stream, the rest never comes */
        }
        return 0;
    }
    if (rule != NULL) {
        RuleResult result;
        if (run_rule(m, rule, &result, NULL) < 0) {
            return -1;
        }
        if (result.type == RESULT_SKIP) {
            /* The rule resynchronises by itself: the rest of the frame is its noise. */
            drop(m, result.a);
            return report_discard(m);
        }
        if (result.type == RESULT_SPAN) {
            drop(m, result.c);
            return report_discard(m);
        }
        m->scan = m->head + result.a;
    }
    if (m->eof) {
        drop(m, m->tail - m->head);
        return report_discard(m);
    }
    /* Bytes the rule has examined hold no frame end: they belong to the oversized frame. If
     * the rule re-examines from the start (no progress), only dropping everything frees room. */
    Py_ssize_t examined = m->scan - m->head;
    if (examined > 0) {
        drop(m, examined);
    }
    else if (m->tail - m->head >= m->limit) {
        drop(m, m->tail - m->head);
    }
    return 0;
}

/* Lend the buffer to a new Frame over [start, end), consuming up to consume. */
static PyObject *
hand_out(Manager *m, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume)
{
    m->start = start;
    m->end = end;
    m->consume = consume;
    m->lent = LENT_FRAME;
    m->generation++;
    m->want = 0;
    PyObject *frame = frame_new(m);
    if (frame == NULL) {
        m->lent = LENT_NONE;
    }
    return frame;
}

/* The rule needs more bytes: apply the end of the stream and the limit. frame_size is -1 when
 * unknown; huge, when not NULL, is a declared size too large for a Py_ssize_t. Returns the
 * last frame under on_eof="frame", Py_None (new reference) for "no frame yet", or NULL. */
PyObject *
need_more(Manager *m, Py_ssize_t frame_size, PyObject *huge)
{
    Py_ssize_t buffered = m->tail - m->head;
    if (m->eof) {
        if (buffered && m->eof_frame) {
            /* The last frame is what the stream left, all of it admitted already. */
            return hand_out(m, m->head, m->tail, m->tail);
        }
        PyObject *partial = PyBytes_FromStringAndSize(DATA(m) + m->head, buffered);
        if (partial == NULL) {
            return NULL;
        }
        PyObject *exc = PyObject_CallOneArg(m->state->StreamClosed, partial);
        Py_DECREF(partial);
        if (exc != NULL) {
            PyErr_SetObject(m->state->StreamClosed, exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    int declared = frame_size >= 0 && frame_size > m->limit;
    if (huge != NULL) {
        PyObject *limit = limit_value(m);
        declared = limit == NULL ? -1 : PyObject_RichCompareBool(huge, limit, Py_GT);
        Py_XDECREF(limit);
        if (declared < 0) {
            return NULL;
        }
    }
    if (declared || buffered >= m->limit) {
        Py_ssize_t size = declared ? frame_size : buffered;
        if (!m->discard_mode) {
            if (huge != NULL) {
                overflow_error(m, Py_NewRef(huge));
                return NULL;
            }
            overflow_error(m, PyLong_FromSsize_t(size));
            return NULL;
        }
        m->discarded = 0;
        Py_CLEAR(m->rule); /* routes the next next_frame() calls to discard_step */
        if (declared) {
            m->skip = huge != NULL ? PY_SSIZE_T_MAX : size;
        }
        if (discard_step(m, NULL) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* A frame [start, end) of a consume-byte whole, all buffered: hand it out, unless it exceeds
 * the limit (then raise, or drop it and raise FrameDiscarded). */
PyObject *
make_frame(Manager *m, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume)
{
    Py_ssize_t size = consume - m->head;
    if (size > m->limit) {
        if (!m->discard_mode) {
            overflow_error(m, PyLong_FromSsize_t(size));
            return NULL;
        }
        m->discarded = 0;
        drop(m, size);
        report_discard(m);
        return NULL;
    }
    return hand_out(m, start, end, consume);
}
