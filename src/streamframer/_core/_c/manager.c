/* BufferManager: one stream's bytes, from their arrival to Frame.consume().
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
 *
 * The policies and messages are the pure core's (../_pure); the differential tests hold the
 * two to the same frames, errors and leftovers.
 */
#include "core.h"
#include <string.h>

#define MIN_READ_SIZE 256

const char EXPORTED_MESSAGE[] =
    "the buffer is still exported: a slice of frame.view, memoryview(frame), an array built on "
    "the frame, or BufferManager.view() is alive; release it, then try again";

static const char BUSY_MESSAGE[] =
    "this BufferManager is already in use: a rule or a read it called is still running (a "
    "manager belongs to one thread, and its rules and sources must not call back into it)";

#define DATA(m) PyByteArray_AS_STRING((m)->buf)
#define CAPACITY(m) PyByteArray_GET_SIZE((m)->buf)

PyObject *
lifecycle_error(const char *message)
{
    PyErr_SetString(FrameLifecycleError, message);
    return NULL;
}

PyObject *
outstanding_error(Manager *m)
{
    if (m->lent == LENT_RESERVED) {
        return lifecycle_error("reserve() is waiting for its commit(): call commit() first");
    }
    PyErr_Format(FrameLifecycleError,
                 "the previous frame (%zd bytes) is still outstanding: call frame.consume() (or "
                 "use 'with frame:') before reading the next one",
                 m->end - m->start);
    return NULL;
}

/* The checks every operation that reads or changes the bytes starts with. */
static int
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

static Py_ssize_t
backlog_bytes(Manager *m)
{
    return m->backlog == NULL ? 0 : m->backlog_size;
}

/* ------------------------------------------------------------------------------------------ */
/* Moving bytes: only while nothing is exported. */

/* Resize the bytearray; FrameLifecycleError if a view pins it (ours, or one a rule kept). */
static int
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
static int
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
static int
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

/* Make room for `size` more bytes at tail, within max_size; returns the size that fits, or -1.
 * Refuses (before anything moves) while an export is alive. The unconsumed bytes slide to the
 * front; the bytearray grows to what is needed plus one more read (to a header's declared
 * frame size when one is known), and gives back what a consumed large frame left. */
static Py_ssize_t
make_room(Manager *m, Py_ssize_t size)
{
    if (m->exports > 0) {
        lifecycle_error(EXPORTED_MESSAGE);
        return -1;
    }
    Py_ssize_t kept = m->tail - m->head;
    Py_ssize_t room = m->limit - kept;
    if (size > room) {
        if (room <= 0) {
            full_error(m);
            return -1;
        }
        size = room;
    }
    if (m->head > 0) {
        memmove(DATA(m), DATA(m) + m->head, (size_t)kept);
        m->moves++;
        shift(m, m->head);
    }
    Py_ssize_t needed = kept + size;
    Py_ssize_t wanted = needed + size;
    if (m->want > wanted - size) {
        wanted = m->want + size;   /* straight to the declared frame, and one read after it */
    }
    Py_ssize_t capacity = CAPACITY(m);
    if (capacity < needed) {
        if (resize(m, wanted) < 0) {
            return -1;
        }
    }
    else if (capacity > 2 * wanted + 4 * MIN_READ_SIZE) {
        /* A large frame was consumed: keep room for this read only. */
        if (resize(m, needed) < 0) {
            return -1;
        }
    }
    return size;
}

static Py_ssize_t
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
static int
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
static void
settle_backlog(Manager *m)
{
    if (flush_backlog(m) < 0) {
        PyErr_Clear();
        Py_CLEAR(m->rule);   /* routes the next next_frame() to the flush */
    }
}

/* The delimiter search, counted: a failed search examined its range, one that succeeds the
 * bytes up to the end of the match (what the linearity tests add up). */
static Py_ssize_t
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

/* The rule needs more bytes: apply the end of the stream and the limit. frame_size is -1 when
 * unknown; huge, when not NULL, is a declared size too large for a Py_ssize_t. Returns the
 * last frame under on_eof="frame", Py_None (new reference) for "no frame yet", or NULL. */
static PyObject *
need_more(Manager *m, Py_ssize_t frame_size, PyObject *huge)
{
    Py_ssize_t buffered = m->tail - m->head;
    if (m->eof) {
        if (buffered && m->eof_frame) {
            return make_frame(m, m->head, m->tail, m->tail);
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

static int
bad_result(PyObject *rule, PyObject *result, Py_ssize_t buffered)
{
    PyErr_Format(PyExc_ValueError, "%R returned %R for a buffer of %zd bytes", rule, result,
                 buffered);
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
    if (spec->kind == KIND_CUSTOM && m->want > m->tail - m->head && m->want <= m->limit && !m->eof) {
        Py_RETURN_NONE;   /* the header said how long the frame is: not there yet */
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
        if (result.b >= 0) {
            m->want = result.b;
        }
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
        lifecycle_error("cannot consume: a view of this frame is still alive (frame.view, a "
                        "slice of it, memoryview(frame), or an array built on it); release it, "
                        "then consume() again");
        return -1;
    }
    m->head = m->scan = m->consume;
    m->lent = LENT_NONE;
    m->generation++;
    if (m->backlog != NULL) {
        settle_backlog(m);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* drain: every complete frame buffered now, as bytes copies */

/* drain for a plain delimiter: one search per frame and one copy each, straight from the
 * buffer. Returns a list (possibly empty when the first frame needs the frame-by-frame path),
 * Py_None when the frame-by-frame path must answer, or NULL. */
static PyObject *
drain_split(Manager *m)
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
            break;   /* the frames before it first; next_frame raises for it */
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

PyObject *
manager_drain(Manager *m, PyObject *rule)
{
    if (check_idle(m) < 0) {
        return NULL;
    }
    RuleSpec *spec = &m->spec;
    if (rule == m->rule && spec->kind == KIND_DELIM && spec->strip < 0 && !spec->keep_delimiter
        && !spec->skip_empty) {
        PyObject *split = drain_split(m);
        if (split != Py_None) {
            return split;
        }
        Py_DECREF(split);
    }
    PyObject *payloads = PyList_New(0);
    if (payloads == NULL) {
        return NULL;
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

/* ------------------------------------------------------------------------------------------ */
/* Bytes in */

static PyObject *
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
            blocked = 1;
        }
    }
    if (blocked && waiting > m->limit) {
        PyBuffer_Release(&view);
        PyObject *exc = PyObject_CallFunction(FrameTooLarge, "nn", m->limit, waiting);
        if (exc != NULL) {
            PyErr_SetObject(FrameTooLarge, exc);
            Py_DECREF(exc);
        }
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

static PyObject *
manager_feed_eof(Manager *m, PyObject *unused)
{
    m->eof = 1;
    Py_RETURN_NONE;
}

static PyObject *
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
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
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
    if (m->tail + size > CAPACITY(m) || m->head > CAPACITY(m) / 2
        || m->tail - m->head + size > m->limit) {
        size = make_room(m, size);
        if (size < 0) {
            return NULL;
        }
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

static PyObject *
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
    if (m->backlog != NULL) {
        settle_backlog(m);
    }
    Py_RETURN_NONE;
}

/* One zero-copy read for the I/O adapters: reserve, read_into(view), commit, in one call.
 * Refuses before calling read_into when the bytes would have to move under a live view, and
 * keeps whatever read_into delivered. Returns what read_into returned. */
static PyObject *
manager_fill(Manager *m, PyObject *read_into)
{
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return NULL;
    }
    Py_ssize_t size = m->next_read;
    Py_ssize_t capacity = CAPACITY(m);
    if (m->tail + size > capacity || m->head > capacity / 2
        || m->tail - m->head + size > m->limit) {
        size = make_room(m, size);
        if (size < 0) {
            return NULL;
        }
    }
    PyObject *span = NULL;
    PyObject *view = span_view(m, m->tail, size, 1, &span);
    if (view == NULL) {
        return NULL;
    }
    m->busy = 1;
    PyObject *got = PyObject_CallOneArg(read_into, view);
    m->busy = 0;
    /* Release the view the source was given; a source that re-exported it (or kept a slice)
     * keeps the span's count up, reported below once the bytes are kept. */
    PyObject *error = take_error();
    PyObject *released = PyObject_CallMethod(view, "release", NULL);
    if (released == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(released);
    restore_error(error);
    Py_DECREF(view);
    Py_ssize_t count = 0;
    if (got != NULL && got != Py_None) {
        count = PyNumber_AsSsize_t(got, PyExc_OverflowError);
        if (count == -1 && PyErr_Occurred()) {
            Py_CLEAR(got);
        }
        else if (count < 0 || count > size) {
            PyErr_Format(PyExc_ValueError, "%R returned %zd for a buffer of %zd bytes",
                         read_into, count, size);
            Py_CLEAR(got);
            count = 0;
        }
    }
    m->tail += count;   /* kept, whatever happens next */
    m->next_read = next_read_size(count, size, m->max_read);
    int kept_export = ((SpanObject *)span)->exports > 0;
    Py_DECREF(span);
    if (got != NULL && kept_export) {
        Py_DECREF(got);
        PyErr_Format(FrameLifecycleError,
                     "%R kept an export of the buffer it was given; the bytes it read are "
                     "buffered: release the export, then read on", read_into);
        return NULL;
    }
    return got;
}

/* ------------------------------------------------------------------------------------------ */
/* Inspection and recovery */

static PyObject *
manager_view(Manager *m, PyObject *unused)
{
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return NULL;
    }
    return span_view(m, m->head, m->tail - m->head, 0, NULL);
}

static PyObject *
manager_shrink(Manager *m, PyObject *unused)
{
    if (check_idle(m) < 0 || trim(m) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
manager_discard(Manager *m, PyObject *arg)
{
    if (PyBool_Check(arg) || !PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "n must be an int, not %s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return NULL;
    }
    Py_ssize_t buffered = m->tail - m->head;
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (overflow || n < 0 || n > buffered) {
        PyErr_Format(PyExc_ValueError, "cannot discard %S bytes: %zd are buffered", arg,
                     buffered);
        return NULL;
    }
    m->head += (Py_ssize_t)n;
    m->scan = m->head;
    m->want = 0;
    m->overflowed = 0;
    Py_CLEAR(m->deferred);   /* a recovery: an error owed for the old bytes is moot */
    Py_RETURN_NONE;
}

static PyObject *
manager_clear(Manager *m, PyObject *unused)
{
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return NULL;
    }
    PyObject *n = PyLong_FromSsize_t(m->tail - m->head);
    if (n == NULL) {
        return NULL;
    }
    PyObject *result = manager_discard(m, n);
    Py_DECREF(n);
    return result;
}

static PyObject *
manager_next_frame_method(Manager *m, PyObject *rule)
{
    return manager_next_frame(m, rule);
}

static PyObject *
manager_drain_method(Manager *m, PyObject *rule)
{
    return manager_drain(m, rule);
}

static Py_ssize_t
manager_length(Manager *m)
{
    return m->tail - m->head + backlog_bytes(m);
}

/* ------------------------------------------------------------------------------------------ */
/* Construction, attributes */

static int
parse_max_size(PyObject *value, Py_ssize_t *out)
{
    if (value == Py_None) {
        *out = PY_SSIZE_T_MAX;
        return 0;
    }
    if (PyBool_Check(value) || !PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "max_size must be an int or None, not %s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long size = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (size == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (!overflow && size < 1)) {
        PyErr_Format(PyExc_ValueError,
                     "max_size must be positive (or None for no limit), got %S", value);
        return -1;
    }
    *out = overflow || size > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)size;
    return 0;
}

static int
parse_read_size(PyObject *value, Py_ssize_t *out)
{
    if (PyBool_Check(value) || !PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "read_size must be an int, not %s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long size = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (size == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (!overflow && size < 1)) {
        PyErr_Format(PyExc_ValueError, "read_size must be positive, got %S", value);
        return -1;
    }
    *out = overflow || size > PY_SSIZE_T_MAX / 4 ? PY_SSIZE_T_MAX / 4 : (Py_ssize_t)size;
    return 0;
}

static int
parse_choice(PyObject *value, const char *name, const char *first, const char *second,
             int *out)
{
    if (PyUnicode_Check(value)) {
        if (PyUnicode_CompareWithASCIIString(value, first) == 0) {
            *out = 0;
            return 0;
        }
        if (PyUnicode_CompareWithASCIIString(value, second) == 0) {
            *out = 1;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError, "%s must be '%s' or '%s', got %R", name, first, second,
                 value);
    return -1;
}

static int
manager_init(Manager *m, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"max_size", "read_size", "on_overflow", "on_eof", NULL};
    PyObject *max_size = NULL, *read_size = NULL, *on_overflow = NULL, *on_eof = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$OOO:BufferManager", keywords, &max_size,
                                     &read_size, &on_overflow, &on_eof)) {
        return -1;
    }
    Py_ssize_t limit = 16 * 1024 * 1024, max_read = 64 * 1024;
    int discard_mode = 0, eof_frame = 0;
    if ((max_size != NULL && parse_max_size(max_size, &limit) < 0)
        || (read_size != NULL && parse_read_size(read_size, &max_read) < 0)
        || (on_overflow != NULL
            && parse_choice(on_overflow, "on_overflow", "error", "discard", &discard_mode) < 0)
        || (on_eof != NULL && parse_choice(on_eof, "on_eof", "raise", "frame", &eof_frame) < 0)) {
        return -1;
    }
    if (m->buf == NULL) {
        m->buf = PyByteArray_FromStringAndSize(NULL, 0);
        if (m->buf == NULL) {
            return -1;
        }
    }
    m->limit = limit;
    m->max_read = m->next_read = max_read;
    m->discard_mode = discard_mode;
    m->eof_frame = eof_frame;
    return 0;
}

static PyObject *
manager_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Manager *m = (Manager *)type->tp_alloc(type, 0);
    if (m == NULL) {
        return NULL;
    }
    m->discarded = -1;
    m->limit = 16 * 1024 * 1024;
    m->max_read = m->next_read = 64 * 1024;
    return (PyObject *)m;
}

static int
manager_traverse(Manager *m, visitproc visit, void *arg)
{
    Py_VISIT(m->buf);
    Py_VISIT(m->reserved_view);
    Py_VISIT(m->reserved_span);
    Py_VISIT(m->rule);
    Py_VISIT(m->scan_rule);
    Py_VISIT(m->backlog);
    Py_VISIT(m->deferred);
    return 0;
}

static int
manager_clear_refs(Manager *m)
{
    Py_CLEAR(m->reserved_view);
    Py_CLEAR(m->reserved_span);
    Py_CLEAR(m->rule);
    Py_CLEAR(m->scan_rule);
    Py_CLEAR(m->backlog);
    Py_CLEAR(m->deferred);
    spec_clear(&m->spec);
    return 0;
}

static void
manager_dealloc(Manager *m)
{
    PyObject_GC_UnTrack(m);
    if (m->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)m);
    }
    manager_clear_refs(m);
    Py_CLEAR(m->buf);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyObject *
get_max_size(Manager *m, void *closure)
{
    if (m->limit == PY_SSIZE_T_MAX) {
        Py_RETURN_NONE;
    }
    return PyLong_FromSsize_t(m->limit);
}

static int
set_max_size(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete max_size");
        return -1;
    }
    if (parse_max_size(value, &m->limit) < 0) {
        return -1;
    }
    m->overflowed = 0;
    return 0;
}

static PyObject *
get_read_size(Manager *m, void *closure)
{
    return PyLong_FromSsize_t(m->max_read);
}

static int
set_read_size(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete read_size");
        return -1;
    }
    return parse_read_size(value, &m->max_read);
}

static PyObject *
get_on_overflow(Manager *m, void *closure)
{
    return PyUnicode_FromString(m->discard_mode ? "discard" : "error");
}

static int
set_on_overflow(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete on_overflow");
        return -1;
    }
    return parse_choice(value, "on_overflow", "error", "discard", &m->discard_mode);
}

static PyObject *
get_on_eof(Manager *m, void *closure)
{
    return PyUnicode_FromString(m->eof_frame ? "frame" : "raise");
}

static int
set_on_eof(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete on_eof");
        return -1;
    }
    return parse_choice(value, "on_eof", "raise", "frame", &m->eof_frame);
}

static PyObject *
get_at_eof(Manager *m, void *closure)
{
    return PyBool_FromLong(m->eof);
}

static PyObject *
get_examined(Manager *m, void *closure)
{
    return PyLong_FromUnsignedLongLong(m->examined);
}

static PyObject *
manager_sizeof(Manager *m, PyObject *unused)
{
    Py_ssize_t size = Py_TYPE(m)->tp_basicsize;
    if (m->buf != NULL) {
        PyObject *inner = PyObject_CallMethod(m->buf, "__sizeof__", NULL);
        if (inner == NULL) {
            return NULL;
        }
        size += PyLong_AsSsize_t(inner);
        Py_DECREF(inner);
        if (size == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    return PyLong_FromSsize_t(size);
}

static PyObject *
get_skipped(Manager *m, void *closure)
{
    return PyLong_FromSsize_t(m->skipped);
}

static PyObject *
manager_repr(Manager *m)
{
    PyObject *max_size = get_max_size(m, NULL);
    if (max_size == NULL) {
        return NULL;
    }
    PyObject *repr = PyUnicode_FromFormat(
        "<BufferManager %zd bytes buffered, max_size=%S%s%s>", manager_length(m), max_size,
        m->lent != LENT_NONE ? " frame outstanding" : "", m->eof ? " eof" : "");
    Py_DECREF(max_size);
    return repr;
}

static PyMethodDef manager_methods[] = {
    {"feed", (PyCFunction)manager_feed, METH_O,
     "Append received bytes (the sans-IO way in).\n\nIt may be called while a frame is "
     "outstanding or a view() is alive; those bytes\nwait, in order, until the buffer is free."},
    {"feed_eof", (PyCFunction)manager_feed_eof, METH_NOARGS,
     "Mark the end of the stream: once the buffered frames are taken, next_frame raises\n"
     "StreamClosed carrying whatever is left."},
    {"next_frame", (PyCFunction)manager_next_frame_method, METH_O,
     "The next complete frame according to rule, or None if more bytes are needed.\n\n"
     "Returns None if, and only if, the buffered bytes hold no complete frame."},
    {"drain", (PyCFunction)manager_drain_method, METH_O,
     "Every complete frame buffered now, as bytes copies, all consumed."},
    {"reserve", (PyCFunction)(void (*)(void))manager_reserve, METH_VARARGS | METH_KEYWORDS,
     "Spare capacity at the end of the buffer, for a zero-copy read; then commit(nbytes)."},
    {"commit", (PyCFunction)manager_commit, METH_O,
     "Keep the first nbytes written into the view reserve() returned."},
    {"_fill", (PyCFunction)manager_fill, METH_O,
     "One zero-copy read for the I/O adapters: reserve, read_into(view), commit."},
    {"view", (PyCFunction)manager_view, METH_NOARGS,
     "A read-only view of the unconsumed bytes, without copying."},
    {"__sizeof__", (PyCFunction)manager_sizeof, METH_NOARGS,
     "The manager's size in memory, its buffer included."},
    {"shrink", (PyCFunction)manager_shrink, METH_NOARGS,
     "Give back the spare capacity kept for the next read."},
    {"clear", (PyCFunction)manager_clear, METH_NOARGS, "Drop every unconsumed byte."},
    {"discard", (PyCFunction)manager_discard, METH_O, "Drop the first n unconsumed bytes."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef manager_getset[] = {
    {"max_size", (getter)get_max_size, (setter)set_max_size,
     "The most bytes one frame may occupy, or None for no limit. Settable.", NULL},
    {"read_size", (getter)get_read_size, (setter)set_read_size,
     "The most bytes one read asks the source for. Settable.", NULL},
    {"on_overflow", (getter)get_on_overflow, (setter)set_on_overflow,
     "'error' or 'discard'.", NULL},
    {"on_eof", (getter)get_on_eof, (setter)set_on_eof, "'raise' or 'frame'.", NULL},
    {"at_eof", (getter)get_at_eof, NULL,
     "True once the end of the stream was seen (feed_eof() or a closed source).", NULL},
    {"_examined", (getter)get_examined, NULL,
     "Bytes the built-in rules' searches examined so far: linear-time tests count it.", NULL},
    {"skipped", (getter)get_skipped, NULL,
     "Bytes rules skipped as belonging to no frame (Skip), over the stream's life.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods manager_as_sequence = {
    .sq_length = (lenfunc)manager_length,
};

PyTypeObject ManagerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer.BufferManager",
    .tp_basicsize = sizeof(Manager),
    .tp_dealloc = (destructor)manager_dealloc,
    .tp_repr = (reprfunc)manager_repr,
    .tp_as_sequence = &manager_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc =
        "BufferManager(max_size=16 MiB, *, read_size=65536, on_overflow='error', "
        "on_eof='raise')\n--\n\n"
        "Owns one stream's byte buffer and the rule's scan position.\n\n"
        "Bytes persist across reads until a frame is consumed. max_size bounds the bytes one\n"
        "frame may occupy (header, payload and delimiter); None opts out explicitly.",
    .tp_traverse = (traverseproc)manager_traverse,
    .tp_clear = (inquiry)manager_clear_refs,
    .tp_weaklistoffset = offsetof(Manager, weakreflist),
    .tp_methods = manager_methods,
    .tp_getset = manager_getset,
    .tp_init = (initproc)manager_init,
    .tp_new = manager_tp_new,
};
