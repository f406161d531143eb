/* The compiled core: BufferManager, Frame and the built-in rules' searches, in C.
 *
 * The semantics are those of the pure-Python core in ../_pure (the readable statement of them);
 * this is the same design with the per-frame costs taken out. Goals, in order:
 *
 *  - Nothing received is ever lost or reordered, whatever errors happen on the way.
 *  - Exact export tracking. The bytes live in a bytearray that is never handed to users: every
 *    view a user gets (frame views, view(), reserve()) comes from this module's own exporters,
 *    which count their live buffers. "Is a view alive?" is then an exact O(1) question, on any
 *    Python, and the storage is only moved or resized while the answer is no.
 *  - Linear time: rules resume at the stored scan position; no byte is examined twice more than
 *    a delimiter's length.
 *  - A cheap per-frame path: the built-in rules are recognised by type and run here, without
 *    calling them or making result objects; a Frame is one small object.
 *
 * Custom rules get the bytearray itself, trimmed to exactly the unconsumed bytes, as the rule
 * contract promises.
 *
 * The safety rule. Any call into Python (a rule, __index__, __eq__, __buffer__, __str__, a read
 * function, an exception's constructor, a finalizer run by an allocation) can do anything:
 * re-enter this manager from the same thread or another, mutate, keep references, raise. So:
 *
 *  1. Every public entry point (a method, a getter or setter that reads or changes state, a
 *     Frame method, its buffer and comparison, the adapter loops of module.c) holds the
 *     manager's busy mark for its whole duration (enter()/leave() below): the conversions of
 *     its arguments and results, a rule switch's __eq__, the construction of its errors. A
 *     re-entry finds it busy and gets FrameLifecycleError (the pure core's words) with nothing
 *     changed. Only an adapter's io function, which reads through the public _fill, runs
 *     outside the mark.
 *  2. Nothing read before a call into Python (a length, a pointer, an offset, the bytearray's
 *     size) is used after it without being read again.
 *  3. A rule's result is converted (its fields' __index__ included) and checked before any
 *     state changes; a malformed result (wrong size, made by tuple.__new__) is a TypeError.
 *  4. Sizes never overflow: sums go through size_sum(), and a read or reservation beyond what
 *     any allocation could hold is refused up front (OverflowError); settings beyond Py_ssize_t
 *     are kept exactly as given for reading back and for messages (limits then compare as
 *     PY_SSIZE_T_MAX, which no buffer reaches).
 *  5. What a custom rule is given cannot free or move the storage: the manager holds a buffer
 *     export of its own bytearray from the first custom rule call on (pin()), letting go only
 *     for the instant of its own resizes, so that a rule that kept or resizes its bytearray
 *     gets BufferError from CPython and the bytes never move under the core.
 *  6. The reusable read exporter goes only to the core's own readers (C functions of CPython
 *     known to take the buffer, write into it and give it back before returning: a socket's
 *     recv_into, FileIO's and BytesIO's readinto; see trusted_reader()); any other read
 *     function gets a fresh exporter, closed after it.
 *
 * Interpreters. Every type is a heap type made from a spec with the module (module.c), and
 * everything mutable lives in the module's state (CoreState) or in the objects themselves:
 * nothing static changes after load, so the module declares support for several interpreters,
 * each with its own GIL.
 *
 * Free-threaded builds (3.13t) would need more than that, and the module keeps Py_MOD_GIL_USED
 * until it has it:
 *  - a critical section per manager (Py_BEGIN_CRITICAL_SECTION(mgr)) around every public
 *    entry point, frames' and spans' included, since they read and write the manager's fields;
 *    the busy mark would then only refuse re-entry from the same thread, as the pure core's;
 *  - the export counts (a frame's, a span's, the manager's total) changed only under that
 *    section: bf_getbuffer/bf_releasebuffer run from any thread holding a memoryview;
 *  - the manager's spare frame (frame.c), filled from a frame's dealloc, under the section too;
 *  - a manager's state pointer and the module's state are read-only after creation: fine.
 */
#ifndef STREAMFRAMER_CORE_H
#define STREAMFRAMER_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_PYSSIZET T_PYSSIZET
#define Py_READONLY READONLY
#endif

#ifndef Py_TPFLAGS_IMMUTABLETYPE
#define Py_TPFLAGS_IMMUTABLETYPE 0 /* 3.10+; on 3.9 the types stay settable */
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *
new_ref_compat(PyObject *obj)
{
    Py_INCREF(obj);
    return obj;
}
#define Py_NewRef(obj) new_ref_compat((PyObject *)(obj))
#endif

/* What the buffer is lent out to. */
enum { LENT_NONE = 0, LENT_FRAME = 1, LENT_RESERVED = 2 };

/* How a rule is run: recognised built-in rules are searched here, the rest are called. */
enum {
    KIND_CUSTOM = 0,
    KIND_DELIM = 1,  /* until_delim / until_eot (Delimited) */
    KIND_FIXED = 2,  /* fixed_size (FixedSize) */
    KIND_LENGTH = 3, /* length_prefixed (LengthPrefixed) */
    KIND_ANY = 4,    /* until_any (UntilAny) */
};

#define MAX_ANY 16 /* until_any rules with more delimiters are called instead */

/* What a built-in rule needs to run, read from the rule object's public attributes once, when
 * the manager first meets the rule. */
typedef struct {
    int kind;
    /* KIND_DELIM */
    PyObject *delimiter; /* bytes, owned */
    Py_ssize_t delim_len;
    int strip; /* -1: none */
    int keep_delimiter;
    int skip_empty;
    /* KIND_FIXED */
    Py_ssize_t size;
    /* KIND_LENGTH */
    Py_ssize_t offset, length_size, adjust, payload_offset, field_end, min_total;
    unsigned long long longest; /* the largest length allowed */
    int little_endian;
    PyObject *magic; /* bytes or NULL, owned */
    /* KIND_ANY */
    int n_any;
    PyObject *any[MAX_ANY]; /* bytes, longest first, owned */
    Py_ssize_t any_longest;
    unsigned char first_bytes[256]; /* 1 where some delimiter starts with that byte */
} RuleSpec;

/* A rule's answer, positions counted from the first unconsumed byte (the contract's). */
enum { RESULT_NEED = 0, RESULT_SPAN = 1, RESULT_SKIP = 2 };
typedef struct {
    int type;
    Py_ssize_t a, b, c; /* NEED: resume, frame_size (-1: unknown); SPAN: start, end, consume;
                             SKIP: nbytes */
} RuleResult;

/* The module's state (one per module object, so one per interpreter): the package's classes
 * imported at exec, this module's own types, interned names. Nothing in the core is static
 * and mutable. A manager keeps a pointer to it from its creation (see manager.c), which the
 * methods use: reaching it costs one load, never a lookup on the per-frame path. The state
 * lives as long as the module, which every instance keeps alive through its type; only the
 * collector tearing a whole garbage cycle apart (interpreter exit) can free it first, so
 * deallocators never touch it. */
#define TRUSTED_READERS 3

typedef struct {
    PyObject *StreamFramerError, *FrameTooLarge, *FrameDiscarded, *FramingError,
        *FrameLifecycleError, *StreamClosed;
    PyObject *NeedMoreType, *FrameSpanType, *SkipType, *BrokenCondition;
    PyObject *DelimitedType, *FixedSizeType, *LengthPrefixedType, *UntilAnyType;
    PyTypeObject *ManagerType, *FrameType, *SpanType, *ReaderType, *FrameIterType,
        *PayloadIterType, *StepsType;
    PyObject *str_release, *str_recv_into;
    /* The names the async for steps read on the asyncio reader and its protocol (steps.c). */
    PyObject *str_rule, *str_paused, *str_read_ahead, *str_resume, *str_yielded,
        *str_consume_yielded, *str_partial;
    /* The trusted readers (reads.c), found at exec: the C functions behind socket.recv_into,
     * FileIO.readinto and BytesIO.readinto; an entry is NULL where its module is absent. */
    PyCFunction trusted_readers[TRUSTED_READERS];
} CoreState;

typedef struct FrameObject FrameObject;

typedef struct {
    PyObject_HEAD
    CoreState *state;         /* the module's, from the type the manager was made with */
    FrameObject *spare_frame; /* the last frame freed, kept for the next (memory only) */
    PyObject *buf;            /* bytearray: [0, head) consumed, [head, tail) unconsumed,
                                   [tail, len) spare capacity */
    Py_ssize_t head, tail, scan;
    Py_ssize_t exports;             /* live buffers of this manager's exporters */
    uint64_t moves;                 /* bumped whenever the bytes move: stale exporters refuse */
    int lent;                       /* LENT_* */
    uint64_t generation;            /* of the outstanding frame */
    Py_ssize_t start, end, consume; /* the outstanding frame's span (absolute) */
    PyObject *reserved_view;        /* the memoryview reserve() returned, until commit() */
    Py_ssize_t reserved_size;
    PyObject *reserved_span; /* its exporter */
    PyObject *read_span;     /* the exporter _fill lends out, reused read after read */
    PyObject *rule;          /* the rule spec belongs to */
    PyObject *scan_rule;     /* the rule scan belongs to */
    RuleSpec spec;
    Py_ssize_t want;   /* a header rule's declared frame size: not called again
                                   before that many bytes are buffered (0: unknown) */
    PyObject *backlog; /* list of bytes fed while the buffer could not take them */
    Py_ssize_t backlog_size;
    int eof;
    Py_ssize_t limit; /* max_size; PY_SSIZE_T_MAX for none */
    Py_ssize_t max_read, next_read;
    int discard_mode;     /* on_overflow == "discard" */
    int eof_frame;        /* on_eof == "frame" */
    int overflowed;       /* FrameTooLarge raised; waiting for a recovery */
    PyObject *deferred;   /* an error drain() owes the next call */
    Py_ssize_t discarded; /* bytes dropped of an oversized frame; -1: not dropping */
    Py_ssize_t skip;      /* bytes still to drop of it, when its header said */
    Py_ssize_t skipped;
    int busy;      /* inside a public call: a second caller is refused */
    Py_buffer pin; /* an export of buf, held while pinned (rule 5 above) */
    int pinned;
    PyObject *limit_exact;       /* max_size as given when beyond Py_ssize_t, else NULL */
    PyObject *read_size_exact;   /* read_size as given when beyond the clamp, else NULL */
    unsigned long long examined; /* bytes the built-in searches examined (tests count work) */
    PyObject *weakreflist;
} Manager;

struct FrameObject {
    PyObject_HEAD
    Manager *mgr;
    uint64_t generation;
    Py_ssize_t exports; /* live buffers of this frame */
};

/* A window on a manager's bytes that exports the buffer protocol: view() and reserve(). */
typedef struct {
    PyObject_HEAD
    Manager *mgr; /* owned; borrowed by a manager's own read span (see frame.c) */
    Py_ssize_t offset, length;
    uint64_t moves; /* the manager's moves when made: refused once they changed */
    int writable;
    int borrows; /* mgr is borrowed, and owned only while exported */
    int closed;  /* a read's exporter after its read: refuses to export */
    Py_ssize_t exports;
} SpanObject;

/* rule.<name>, or *out = NULL without an error when there is no such attribute. Returns -1
 * on another error. (PyObject_GetOptionalAttrString is 3.13+.) */
static inline int
get_optional_attr(PyObject *obj, const char *name, PyObject **out)
{
    *out = PyObject_GetAttrString(obj, name);
    if (*out != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* obj.name, or *out = NULL without an error when there is no such attribute; -1 on another
 * error. (PyObject_GetOptionalAttr is 3.13+.) */
static inline int
PyObject_GetOptionalAttr_compat(PyObject *obj, PyObject *name, PyObject **out)
{
    *out = PyObject_GetAttr(obj, name);
    if (*out != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* The exception being raised, taken (normalised, traceback attached), or NULL if none. */
static inline PyObject *
take_error(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    Py_DECREF(type);
    Py_XDECREF(traceback);
    return value;
#endif
}

/* Raise an exception taken by take_error (stealing the reference); NULL does nothing. */
static inline void
restore_error(PyObject *exc)
{
    if (exc == NULL) {
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef(Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* module.c: the module's state, found from a type (a subclass's included) */
CoreState *state_of_type(PyTypeObject *type);

/* The specs the module makes its types from (manager.c, frame.c, module.c). */
extern PyType_Spec manager_spec, frame_spec, span_spec, compiled_spec, frame_iter_spec,
    payload_iter_spec;

#if PY_VERSION_HEX >= 0x030A0000
/* steps.c: the async for steps of the asyncio reader (am_send is 3.10+) */
extern PyType_Spec steps_spec;
PyObject *steps_new(CoreState *state, PyObject *wait, PyObject *reader, Manager *mgr,
                    PyObject *protocol);
#endif

/* Sizes: a + b for non-negative sizes, PY_SSIZE_T_MAX when the sum does not fit. */
static inline Py_ssize_t
size_sum(Py_ssize_t a, Py_ssize_t b)
{
    return a > PY_SSIZE_T_MAX - b ? PY_SSIZE_T_MAX : a + b;
}

/* The most bytes one read or reservation may ask for: far beyond any allocation, and small
 * enough that the capacity policy's sums and doublings of it stay within Py_ssize_t. */
#define MOST_BYTES (PY_SSIZE_T_MAX / 8)

#define DATA(m) PyByteArray_AS_STRING((m)->buf)
#define CAPACITY(m) PyByteArray_GET_SIZE((m)->buf)

/* The C files by responsibility, each calling only the ones listed before it (no circle):
 *   rules.c     the built-in rules' searches
 *   span.c      the exporters of view(), reserve() and _fill()
 *   storage.c   the bytes: moves, the capacity policy, the backlog, the busy mark's messages
 *   reads.c     the ways in: feed(), reserve()/commit(), _fill()
 *   frame.c     Frame: lending the buffer to a frame, consume()
 *   rulecall.c  running a rule: its call, its answer converted and checked
 *   limits.c    max_size and the end of the stream
 *   framing.c   next_frame(), drain()
 *   steps.c     the asyncio reader's async for steps (their own running mark: a step
 *               re-entered is refused; the manager's calls hold its busy mark)
 *   manager.c   the BufferManager type; module.c the module and the adapters' loops */

/* rules.c */
void spec_clear(RuleSpec *spec);
int spec_load(const CoreState *state, RuleSpec *spec, PyObject *rule);
int spec_run(const RuleSpec *spec, const char *data, Py_ssize_t size, Py_ssize_t scan,
             RuleResult *out);
Py_ssize_t find_delim(const RuleSpec *spec, const char *data, Py_ssize_t from, Py_ssize_t to);

/* Where a delimiter search resumes after finding none in [from, to): the delimiter may have
 * begun in the last len(delimiter) - 1 bytes, never before from. */
static inline Py_ssize_t
delim_resume(const RuleSpec *spec, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t resume = to - spec->delim_len + 1;
    return resume > from ? resume : from;
}

/* span.c */
PyObject *span_view(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int writable,
                    PyObject **span_out);
PyObject *read_span(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int reusable);

/* storage.c */
extern const char EXPORTED_MESSAGE[];
extern const char BUSY_MESSAGE[];
PyObject *lifecycle_error(Manager *mgr, const char *message);

/* The busy mark (safety rule 1): enter() refuses a call that overlaps another. */
static inline int
enter(Manager *m)
{
    if (m->busy) {
        lifecycle_error(m, BUSY_MESSAGE);
        return -1;
    }
    m->busy = 1;
    return 0;
}

static inline void
leave(Manager *m)
{
    m->busy = 0;
}

/* body(m, arg) under the busy mark: the shape of the public entry points. Inlined, body
 * included where it is static. */
static inline PyObject *
while_busy(Manager *m, PyObject *(*body)(Manager *, PyObject *), PyObject *arg)
{
    if (enter(m) < 0) {
        return NULL;
    }
    PyObject *result = body(m, arg);
    leave(m);
    return result;
}

#define SLACK 4096 /* the least room kept for the reads to come */

int pin(Manager *m);
void unpin(Manager *m);
PyObject *limit_value(Manager *m);
PyObject *outstanding_error(Manager *mgr);
int check_idle(Manager *mgr);
Py_ssize_t backlog_bytes(Manager *mgr);
int resize(Manager *mgr, Py_ssize_t size);
int compact(Manager *mgr);
int trim(Manager *mgr);
Py_ssize_t capacity_wanted(Manager *mgr, Py_ssize_t size);
Py_ssize_t make_room(Manager *mgr, Py_ssize_t size, int shorter);
Py_ssize_t next_read_size(Py_ssize_t got, Py_ssize_t asked, Py_ssize_t most);
int flush_backlog(Manager *mgr);
void settle_backlog(Manager *mgr);
Py_ssize_t search(Manager *mgr, Py_ssize_t from, Py_ssize_t to);

/* reads.c */
PyObject *manager_feed(Manager *mgr, PyObject *data);
PyObject *manager_feed_eof(Manager *mgr, PyObject *unused);
PyObject *manager_reserve(Manager *mgr, PyObject *args, PyObject *kwargs);
PyObject *manager_commit(Manager *mgr, PyObject *arg);
PyObject *manager_fill(Manager *mgr, PyObject *read_into);
int manager_fill_count(Manager *mgr, PyObject *read_into, PyObject **got);

/* frame.c */
PyObject *frame_new(Manager *mgr);
int consume_frame(Manager *mgr, FrameObject *frame); /* under the busy mark */
void end_frame(Manager *mgr);
extern const char VIEWS_MESSAGE[];
int manager_consume(Manager *mgr, FrameObject *frame);
PyObject *refuse_new(PyTypeObject *type, PyObject *args, PyObject *kwargs);
void frame_free_spare(Manager *mgr);

/* Whether frame is its manager's outstanding one (whatever the manager is doing). */
static inline int
frame_is_outstanding(FrameObject *frame)
{
    Manager *mgr = frame->mgr;
    return mgr->lent == LENT_FRAME && mgr->generation == frame->generation;
}

/* Whether frame may be used now: outstanding, and its manager not inside a call (a frame
 * used from inside one, by a rule or a __buffer__, is refused as the pure core refuses it). */
static inline int
frame_is_live(FrameObject *frame)
{
    return frame_is_outstanding(frame) && !frame->mgr->busy;
}

/* rulecall.c */
int run_rule(Manager *mgr, PyObject *rule, RuleResult *out, PyObject **huge);
int adopt_rule(Manager *mgr, PyObject *rule);

/* limits.c */
int discard_step(Manager *mgr, PyObject *rule);
PyObject *need_more(Manager *mgr, Py_ssize_t frame_size, PyObject *huge);
PyObject *make_frame(Manager *mgr, Py_ssize_t start, Py_ssize_t end, Py_ssize_t consume);

/* framing.c */
PyObject *manager_next_frame(Manager *mgr, PyObject *rule);
PyObject *manager_drain(Manager *mgr, PyObject *rule);

#endif
