/* Frames out: next_frame and drain, over limits.c (the limits and the end of the stream),
 * rulecall.c (running a rule), frame.c (lending the buffer to a frame) and storage.c. The
 * policies and messages are the pure core's (../_pure: _buffer, _limits, _batch); the
 * differential tests hold the two to the same frames, errors and leftovers.
 */
#include "core.h"

/* Whatever is not the plain per-frame path: errors owed, bytes waiting, an overflow to recover
 * from, an oversized frame being dropped, a new rule. Returns 1 to go on to the search, 0 when
 * the answer is "no frame yet" (*result set), -1 on error. */
static int
before_search(Manager *m, PyObject *rule, PyObject **result)
{
    if (m->deferred != NULL) {
        PyObject *exc = m->deferred;
        m->deferred = NULL;
        restore_error(exc);
        return -1;
    }
    if (flush_backlog(m) < 0) {
        return -1;
    }
    if (m->overflowed) {
        PyObject *limit = limit_value(m);
        if (limit != NULL) {
            PyErr_Format(m->state->FrameLifecycleError,
                         "the buffer still holds the frame that exceeded max_size=%S: recover "
                         "with clear(), discard(n) or a larger max_size before reading on",
                         limit);
            Py_DECREF(limit);
        }
        return -1;
    }
    if (m->discarded >= 0) {
        if (spec_load(m->state, &m->spec, rule) < 0) {
            return -1;
        }
        if (discard_step(m, rule) < 0) {
            return -1;
        }
        *result = Py_NewRef(Py_None);   /* still inside the frame */
        return 0;
    }
    if (adopt_rule(m, rule) < 0) {
        return -1;
    }
    return 1;
}

#ifndef Py_ALWAYS_INLINE   /* 3.11+ */
#define Py_ALWAYS_INLINE
#endif

/* The next frame by rule (a new Frame), Py_None when more bytes are needed, or NULL; under
 * the busy mark. Inlined into manager_next_frame: the per-frame path pays no call for it. */
static Py_ALWAYS_INLINE inline PyObject *
next_frame(Manager *m, PyObject *rule)
{
    if (check_idle(m) < 0) {
        return NULL;
    }
    if (rule != m->rule) {
        PyObject *early = NULL;
        int go_on = before_search(m, rule, &early);
        if (go_on <= 0) {
            return early;
        }
    }
    RuleSpec *spec = &m->spec;
    if (spec->kind == KIND_DELIM && !spec->skip_empty) {
        /* The per-frame path: the delimiter search, no result objects. */
        Py_ssize_t index = search(m, m->scan, m->tail);
        if (index < 0) {
            m->scan = delim_resume(spec, m->head, m->tail);
            if (m->tail - m->head < m->limit && !m->eof) {
                Py_RETURN_NONE;
            }
            return need_more(m, -1, NULL);
        }
        Py_ssize_t consume = index + spec->delim_len;
        Py_ssize_t end = index;
        if (spec->keep_delimiter) {
            end = consume;
        }
        else if (spec->strip >= 0 && index > m->head
                 && (unsigned char)DATA(m)[index - 1] == spec->strip) {
            end = index - 1;
        }
        return make_frame(m, m->head, end, consume);
    }
    if (spec->kind == KIND_CUSTOM && m->want > m->tail - m->head && m->want <= m->limit
        && !m->eof) {
        Py_RETURN_NONE;   /* the header said how long the frame is: not there yet */
    }
    if (spec->kind == KIND_CUSTOM && m->eof && m->tail == m->head) {
        return need_more(m, -1, NULL);   /* nothing left for the rule: the end of the stream */
    }
    for (;;) {
        RuleResult result;
        PyObject *huge = NULL;
        if (spec->kind == KIND_CUSTOM && m->exports > 0 && (m->head > 0 || CAPACITY(m) != m->tail)) {
            /* Calling the rule needs the bytes trimmed, which a live view forbids: refuse
             * before the rule changes anything (a Skip would drop bytes). */
            return lifecycle_error(m, EXPORTED_MESSAGE);
        }
        if (run_rule(m, rule, &result, &huge) < 0) {
            return NULL;
        }
        Py_ssize_t head = m->head;
        if (result.type == RESULT_SKIP) {
            if (spec->kind == KIND_CUSTOM && m->exports > 0) {
                return lifecycle_error(m, EXPORTED_MESSAGE);   /* before anything changes */
            }
            m->head += result.a;
            m->scan = m->head;
            m->skipped += result.a;
            continue;
        }
        if (result.type == RESULT_SPAN) {
            return make_frame(m, head + result.a, head + result.b, head + result.c);
        }
        m->scan = head + result.a;
        m->want = result.b >= 0 && huge == NULL ? result.b : 0;
        PyObject *answer = need_more(m, result.b, huge);
        Py_XDECREF(huge);
        return answer;
    }
}

PyObject *
manager_next_frame(Manager *m, PyObject *rule)
{
    /* while_busy() spelled out: the per-frame path, with next_frame inlined into it. */
    if (enter(m) < 0) {
        return NULL;
    }
    PyObject *frame = next_frame(m, rule);
    leave(m);
    return frame;
}

/* ------------------------------------------------------------------------------------------ */
/* drain: every complete frame buffered now, as bytes copies */

/* drain for a plain delimiter: one search per frame and one copy each, straight from the
 * buffer. Returns a list (possibly empty when the first frame needs the frame-by-frame path),
 * Py_None when the frame-by-frame path must answer, or NULL. */
static PyObject *
drain_split(Manager *m, int *stopped)
{
    RuleSpec *spec = &m->spec;
    const char *data = DATA(m);
    Py_ssize_t start = m->head;
    Py_ssize_t index = search(m, m->scan, m->tail);
    if (index < 0) {
        /* Nothing is split (nor rescanned) until a delimiter is there. */
        m->scan = delim_resume(spec, m->head, m->tail);
        if (m->tail - m->head < m->limit && !m->eof) {
            return PyList_New(0);
        }
        Py_RETURN_NONE;
    }
    PyObject *payloads = PyList_New(0);
    if (payloads == NULL) {
        return NULL;
    }
    while (index >= 0) {
        Py_ssize_t consume = index + spec->delim_len;
        if (consume - start > m->limit) {
            *stopped = 1;   /* the frames before it first; next_frame deals with it */
            break;
        }
        PyObject *payload = PyBytes_FromStringAndSize(data + start, index - start);
        if (payload == NULL || PyList_Append(payloads, payload) < 0) {
            Py_XDECREF(payload);
            Py_DECREF(payloads);
            return NULL;   /* nothing consumed: the frames stay buffered */
        }
        Py_DECREF(payload);
        start = consume;
        index = search(m, start, m->tail);
    }
    if (PyList_GET_SIZE(payloads) == 0) {
        Py_DECREF(payloads);
        Py_RETURN_NONE;
    }
    m->head = start;
    if (index < 0) {
        m->scan = delim_resume(spec, start, m->tail);
    }
    else {
        m->scan = start;   /* stopped before an oversized frame: next_frame meets it */
    }
    return payloads;
}

/* Whether rule is a Delimited with no option: the batch split's own case. */
static int
spec_is_plain_delimiter(Manager *m, PyObject *rule)
{
    if ((PyObject *)Py_TYPE(rule) != m->state->DelimitedType) {
        return 0;
    }
    PyObject *plain = PyObject_GetAttrString(rule, "_plain");
    if (plain == NULL) {
        PyErr_Clear();
        return 0;
    }
    int truth = PyObject_IsTrue(plain);
    Py_DECREF(plain);
    if (truth < 0) {
        PyErr_Clear();
        return 0;
    }
    return truth;
}

static PyObject *
drain(Manager *m, PyObject *rule)
{
    if (check_idle(m) < 0) {
        return NULL;
    }
    RuleSpec *spec = &m->spec;
    PyObject *payloads = NULL;
    if (rule != m->rule && spec_is_plain_delimiter(m, rule)) {
        /* A new plain delimiter: settle the manager's state first, as next_frame would, so
         * that the batch split runs from the first call. */
        PyObject *early = NULL;
        int go_on = before_search(m, rule, &early);
        if (go_on < 0) {
            return NULL;
        }
        if (go_on == 0) {
            Py_DECREF(early);   /* an oversized frame is still being dropped */
            return PyList_New(0);
        }
    }
    if (rule == m->rule && spec->kind == KIND_DELIM && spec->strip < 0 && !spec->keep_delimiter
        && !spec->skip_empty) {
        int stopped = 0;
        PyObject *split = drain_split(m, &stopped);
        if (split == NULL || (split != Py_None && !stopped)) {
            return split;
        }
        if (split == Py_None) {
            Py_DECREF(split);
        }
        else {
            payloads = split;   /* then the oversized frame, as next_frame deals with it */
        }
    }
    if (payloads == NULL) {
        payloads = PyList_New(0);
        if (payloads == NULL) {
            return NULL;
        }
    }
    for (;;) {
        PyObject *frame = next_frame(m, rule);
        if (frame == NULL) {
            break;
        }
        if (frame == Py_None) {
            Py_DECREF(frame);
            return payloads;
        }
        PyObject *payload = PyBytes_FromStringAndSize(DATA(m) + m->start, m->end - m->start);
        int failed = payload == NULL || PyList_Append(payloads, payload) < 0;
        Py_XDECREF(payload);
        if (!failed) {
            failed = consume_frame(m, (FrameObject *)frame) < 0;
        }
        if (failed && frame_is_outstanding((FrameObject *)frame)) {
            end_frame(m);   /* given back unconsumed: the error says why, not a warning */
        }
        Py_DECREF(frame);
        if (failed) {
            break;
        }
    }
    /* An error: frames found before it are returned first, and the error comes on the next
     * call (a FrameTooLarge is kept for it; any other is met again, nothing was consumed). */
    if (PyList_GET_SIZE(payloads) == 0 || !PyErr_ExceptionMatches(PyExc_Exception)) {
        Py_DECREF(payloads);
        return NULL;
    }
    if (PyErr_ExceptionMatches(m->state->FrameTooLarge)) {
        Py_XSETREF(m->deferred, take_error());   /* raised once, on the next call */
        Py_CLEAR(m->rule);
    }
    else {
        PyErr_Clear();
    }
    return payloads;
}

PyObject *
manager_drain(Manager *m, PyObject *rule)
{
    return while_busy(m, drain, rule);
}
