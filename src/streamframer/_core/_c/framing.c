/* Frames out: running the rule, the limits and the end of the stream, next_frame, consume,
 * drain. The policies and messages are the pure core's (../_pure: _buffer, _limits, _batch);
 * the differential tests hold the two to the same frames, errors and leftovers.
 */
#include "core.h"
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Limits and the end of the stream (the pure core's _limits). */

static int
report_discard(Manager *m)
{
    Py_ssize_t discarded = m->discarded < 0 ? 0 : m->discarded;
    m->discarded = -1;
    m->skip = 0;
    m->want = 0;
    PyObject *exc = PyObject_CallFunction(FrameDiscarded, "nn", m->limit, discarded);
    if (exc != NULL) {
        PyErr_SetObject(FrameDiscarded, exc);
        Py_DECREF(exc);
    }
    return -1;
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

static int
overflow_error(Manager *m, PyObject *size)
{
    m->overflowed = 1;
    Py_CLEAR(m->rule);   /* routes the next next_frame() to the "recover first" error */
    PyObject *exc = PyObject_CallFunction(FrameTooLarge, "nO", m->limit, size);
    if (exc != NULL) {
        PyErr_SetObject(FrameTooLarge, exc);
        Py_DECREF(exc);
    }
    return -1;
}

static int
overflow_error_size(Manager *m, Py_ssize_t size)
{
    PyObject *value = PyLong_FromSsize_t(size);
    if (value == NULL) {
        return -1;
    }
    overflow_error(m, value);
    Py_DECREF(value);
    return -1;
}

static int run_rule(Manager *m, PyObject *rule, RuleResult *out, PyObject **huge);

/* Drop what is known to belong to the oversized frame; FrameDiscarded once all of it is gone.
 * rule (or NULL) finds where the frame ends when its size is unknown. Returns 0 (still inside
 * the frame) or -1 with an error set. */
static int
discard_step(Manager *m, PyObject *rule)
{
    if (m->skip > 0) {   /* the size is known from a header: drop exactly that many bytes */
        Py_ssize_t buffered = m->tail - m->head;
        Py_ssize_t n = m->skip < buffered ? m->skip : buffered;
        drop(m, n);
        m->skip -= n;
        if (m->skip == 0 || m->eof) {
            return report_discard(m);   /* at the end of the stream, the rest never comes */
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

static PyObject *make_frame(Manager *m, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume);
static PyObject *hand_out(Manager *m, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume);

/* The rule needs more bytes: apply the end of the stream and the limit. frame_size is -1 when
 * unknown; huge, when not NULL, is a declared size too large for a Py_ssize_t. Returns the
 * last frame under on_eof="frame", Py_None (new reference) for "no frame yet", or NULL. */
static PyObject *
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
        PyObject *exc = PyObject_CallOneArg(StreamClosed, partial);
        Py_DECREF(partial);
        if (exc != NULL) {
            PyErr_SetObject(StreamClosed, exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    int declared = frame_size >= 0 && frame_size > m->limit;
    if (huge != NULL) {
        PyObject *limit = PyLong_FromSsize_t(m->limit);
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
                overflow_error(m, huge);
                return NULL;
            }
            overflow_error_size(m, size);
            return NULL;
        }
        m->discarded = 0;
        Py_CLEAR(m->rule);   /* routes the next next_frame() calls to discard_step */
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
static PyObject *
make_frame(Manager *m, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume)
{
    Py_ssize_t size = consume - m->head;
    if (size > m->limit) {
        if (!m->discard_mode) {
            overflow_error_size(m, size);
            return NULL;
        }
        m->discarded = 0;
        drop(m, size);
        report_discard(m);
        return NULL;
    }
    return hand_out(m, start, end, consume);
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

/* ------------------------------------------------------------------------------------------ */
/* Running a rule */

/* A custom rule broke the contract: ValueError naming the result and the broken condition
 * (worded once, by the rule contract's broken_condition). */
static int
bad_result(PyObject *rule, PyObject *result, Py_ssize_t buffered)
{
    PyObject *condition = PyObject_CallFunction(BrokenCondition, "On", result, buffered);
    if (condition == NULL) {
        return -1;
    }
    PyErr_Format(PyExc_ValueError, "%R returned %R for a buffer of %zd bytes: %S", rule, result,
                 buffered, condition);
    Py_DECREF(condition);
    return -1;
}

static int
index_of(PyObject *value, Py_ssize_t *out)
{
    *out = PyNumber_AsSsize_t(value, PyExc_OverflowError);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Convert and check what a rule object returned, for a buffer of `buffered` bytes. */
static int
read_result(PyObject *rule, PyObject *result, Py_ssize_t buffered, RuleResult *out,
            PyObject **huge)
{
    PyTypeObject *type = Py_TYPE(result);
    if ((PyObject *)type == SkipType) {
        out->type = RESULT_SKIP;
        return index_of(PyTuple_GET_ITEM(result, 0), &out->a);
    }
    if ((PyObject *)type == FrameSpanType) {
        out->type = RESULT_SPAN;
        if (index_of(PyTuple_GET_ITEM(result, 0), &out->a) < 0
            || index_of(PyTuple_GET_ITEM(result, 1), &out->b) < 0
            || index_of(PyTuple_GET_ITEM(result, 2), &out->c) < 0) {
            return -1;
        }
        if (!(0 <= out->a && out->a <= out->b && out->b <= out->c && out->c <= buffered)
            || out->c == 0) {
            return bad_result(rule, result, buffered);
        }
        return 0;
    }
    if ((PyObject *)type == NeedMoreType) {
        out->type = RESULT_NEED;
        if (index_of(PyTuple_GET_ITEM(result, 0), &out->a) < 0) {
            return -1;
        }
        if (!(0 <= out->a && out->a <= buffered)) {
            return bad_result(rule, result, buffered);
        }
        PyObject *size = PyTuple_GET_ITEM(result, 1);
        out->b = -1;
        if (size != Py_None) {
            Py_ssize_t value = PyNumber_AsSsize_t(size, NULL);   /* clamps */
            if (value == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (value == PY_SSIZE_T_MAX && huge != NULL) {
                *huge = Py_NewRef(size);
            }
            out->b = value < 0 ? -1 : value;
        }
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "a rule must return NeedMore, FrameSpan or Skip, %R returned %R", rule, result);
    return -1;
}

/* Call the rule object on the unconsumed bytes: the bytearray itself for a custom rule
 * (trimmed, as the contract promises), a copy for a built-in rule asked to word an error. */
static int
call_rule(Manager *m, PyObject *rule, int copy, RuleResult *out, PyObject **huge)
{
    PyObject *buffer;
    if (copy) {
        buffer = PyByteArray_FromStringAndSize(DATA(m) + m->head, m->tail - m->head);
        if (buffer == NULL) {
            return -1;
        }
    }
    else {
        if (trim(m) < 0) {
            return -1;
        }
        buffer = Py_NewRef(m->buf);
    }
    Py_ssize_t buffered = m->tail - m->head;
    m->busy = 1;
    PyObject *result = PyObject_CallFunction(rule, "On", buffer, m->scan - m->head);
    m->busy = 0;
    Py_DECREF(buffer);
    if (result == NULL) {
        return -1;
    }
    int status = read_result(rule, result, buffered, out, huge);
    if (status == 0 && out->type == RESULT_SKIP
        && !(0 < out->a && out->a <= buffered)) {
        status = bad_result(rule, result, buffered);
    }
    Py_DECREF(result);
    return status;
}

/* The rule's answer for the unconsumed bytes, positions relative to head. */
static int
run_rule(Manager *m, PyObject *rule, RuleResult *out, PyObject **huge)
{
    if (m->spec.kind != KIND_CUSTOM) {
        Py_ssize_t scan = m->scan - m->head;
        int status = spec_run(&m->spec, DATA(m) + m->head, m->tail - m->head, scan, out);
        if (status == 0) {
            if (m->spec.kind == KIND_DELIM || m->spec.kind == KIND_ANY) {
                Py_ssize_t end = out->type == RESULT_NEED ? m->tail - m->head : out->c;
                if (out->type == RESULT_SKIP) {
                    end = out->a;
                }
                m->examined += end > scan ? (unsigned long long)(end - scan) : 0;
            }
            return 0;
        }
        return call_rule(m, rule, 1, out, huge);   /* the rule words its own error */
    }
    return call_rule(m, rule, 0, out, huge);
}

/* A rule new to this manager (or after a state that cleared it): load its search, and start
 * scanning afresh unless it equals the rule the scan position belongs to. */
static int
adopt_rule(Manager *m, PyObject *rule)
{
    if (rule != m->scan_rule) {
        int equal = 0;
        if (m->scan_rule != NULL) {
            equal = PyObject_RichCompareBool(rule, m->scan_rule, Py_EQ);
            if (equal < 0) {
                return -1;
            }
        }
        if (!equal) {
            m->scan = m->head;
            m->want = 0;
        }
        Py_INCREF(rule);
        Py_XSETREF(m->scan_rule, rule);
    }
    if (spec_load(&m->spec, rule) < 0) {
        return -1;
    }
    Py_INCREF(rule);
    Py_XSETREF(m->rule, rule);
    return 0;
}

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
        PyErr_Format(FrameLifecycleError,
                     "the buffer still holds the frame that exceeded max_size=%zd: recover "
                     "with clear(), discard(n) or a larger max_size before reading on",
                     m->limit);
        return -1;
    }
    if (m->discarded >= 0) {
        if (spec_load(&m->spec, rule) < 0) {
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

/* The next frame by rule (a new Frame), Py_None when more bytes are needed, or NULL. */
PyObject *
manager_next_frame(Manager *m, PyObject *rule)
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
            /* The delimiter may have begun in the last len(delimiter) - 1 bytes. */
            Py_ssize_t scan = m->tail - spec->delim_len + 1;
            m->scan = scan > m->head ? scan : m->head;
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
            return lifecycle_error(EXPORTED_MESSAGE);
        }
        if (run_rule(m, rule, &result, &huge) < 0) {
            return NULL;
        }
        Py_ssize_t head = m->head;
        if (result.type == RESULT_SKIP) {
            if (spec->kind == KIND_CUSTOM && m->exports > 0) {
                return lifecycle_error(EXPORTED_MESSAGE);   /* before anything changes */
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

int
manager_consume(Manager *m, FrameObject *frame)
{
    if (!frame_is_live(frame)) {
        lifecycle_error("this frame was already consumed; its bytes are gone from the buffer");
        return -1;
    }
    if (frame->exports > 0) {
        PyErr_Format(FrameLifecycleError,
                     "cannot consume: a view of this frame is still alive (%s); release it, "
                     "then consume() again", VIEWS_MESSAGE);
        return -1;
    }
    m->head = m->scan = m->consume;
    manager_end_frame(m);
    frame->generation = 0;   /* consumed, not ended by clear() (see frame.c) */
    return 0;
}

/* The outstanding frame ends: consumed, ended by clear()/discard(), or given back when it was
 * dropped unconsumed (its bytes then stay where they are, and the next read finds the frame
 * again from the scan position, which a frame handed out leaves before its end). */
void
manager_end_frame(Manager *m)
{
    m->lent = LENT_NONE;
    m->generation++;
    if (m->backlog != NULL) {
        settle_backlog(m);
    }
}

/* The warning for a frame dropped unconsumed, its size in %zd. */
const char DROPPED_MESSAGE[] =
    "a frame (%zd bytes) was dropped unconsumed: its bytes stay in the buffer and the next "
    "read returns them again (call frame.consume(), or use 'with frame:', to remove them)";

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
        Py_ssize_t scan = m->tail - spec->delim_len + 1;
        m->scan = scan > m->head ? scan : m->head;
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
        Py_ssize_t scan = m->tail - spec->delim_len + 1;
        m->scan = scan > start ? scan : start;
    }
    else {
        m->scan = start;   /* stopped before an oversized frame: next_frame meets it */
    }
    return payloads;
}

/* Whether rule is a Delimited with no option: the batch split's own case. */
static int
spec_is_plain_delimiter(PyObject *rule)
{
    if ((PyObject *)Py_TYPE(rule) != DelimitedType) {
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

PyObject *
manager_drain(Manager *m, PyObject *rule)
{
    if (check_idle(m) < 0) {
        return NULL;
    }
    RuleSpec *spec = &m->spec;
    PyObject *payloads = NULL;
    if (rule != m->rule && spec_is_plain_delimiter(rule)) {
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
        PyObject *frame = manager_next_frame(m, rule);
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
            failed = manager_consume(m, (FrameObject *)frame) < 0;
        }
        if (failed && frame_is_live((FrameObject *)frame)) {
            manager_end_frame(m);   /* given back, unconsumed: the error says why */
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
    if (PyErr_ExceptionMatches(FrameTooLarge)) {
        Py_XSETREF(m->deferred, take_error());   /* raised once, on the next call */
        Py_CLEAR(m->rule);
    }
    else {
        PyErr_Clear();
    }
    return payloads;
}
