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
 */
#ifndef STREAMFRAMER_CORE_H
#define STREAMFRAMER_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

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
    KIND_DELIM = 1,     /* until_delim / until_eot (Delimited) */
    KIND_FIXED = 2,     /* fixed_size (FixedSize) */
    KIND_LENGTH = 3,    /* length_prefixed (LengthPrefixed) */
    KIND_ANY = 4,       /* until_any (UntilAny) */
};

#define MAX_ANY 16      /* until_any rules with more delimiters are called instead */

/* What a built-in rule needs to run, read from the rule object's public attributes once, when
 * the manager first meets the rule. */
typedef struct {
    int kind;
    /* KIND_DELIM */
    PyObject *delimiter;            /* bytes, owned */
    Py_ssize_t delim_len;
    int strip;                      /* -1: none */
    int keep_delimiter;
    int skip_empty;
    /* KIND_FIXED */
    Py_ssize_t size;
    /* KIND_LENGTH */
    Py_ssize_t offset, length_size, adjust, payload_offset, field_end, min_total;
    unsigned long long longest;     /* the largest length allowed */
    int little_endian;
    PyObject *magic;                /* bytes or NULL, owned */
    /* KIND_ANY */
    int n_any;
    PyObject *any[MAX_ANY];         /* bytes, longest first, owned */
    Py_ssize_t any_longest;
    unsigned char first_bytes[256]; /* 1 where some delimiter starts with that byte */
} RuleSpec;

/* A rule's answer, positions counted from the first unconsumed byte (the contract's). */
enum { RESULT_NEED = 0, RESULT_SPAN = 1, RESULT_SKIP = 2 };
typedef struct {
    int type;
    Py_ssize_t a, b, c;   /* NEED: resume, frame_size (-1: unknown); SPAN: start, end, consume;
                             SKIP: nbytes */
} RuleResult;

typedef struct {
    PyObject_HEAD
    PyObject *buf;              /* bytearray: [0, head) consumed, [head, tail) unconsumed,
                                   [tail, len) spare capacity */
    Py_ssize_t head, tail, scan;
    Py_ssize_t exports;         /* live buffers of this manager's exporters */
    uint64_t moves;             /* bumped whenever the bytes move: stale exporters refuse */
    int lent;                   /* LENT_* */
    uint64_t generation;        /* of the outstanding frame */
    Py_ssize_t start, end, consume;   /* the outstanding frame's span (absolute) */
    PyObject *reserved_view;    /* the memoryview reserve() returned, until commit() */
    Py_ssize_t reserved_size;
    PyObject *reserved_span;    /* its exporter */
    PyObject *read_span;        /* the exporter _fill lends out, reused read after read */
    PyObject *rule;             /* the rule spec belongs to */
    PyObject *scan_rule;        /* the rule scan belongs to */
    RuleSpec spec;
    Py_ssize_t want;            /* a header rule's declared frame size: not called again
                                   before that many bytes are buffered (0: unknown) */
    PyObject *backlog;          /* list of bytes fed while the buffer could not take them */
    Py_ssize_t backlog_size;
    int eof;
    Py_ssize_t limit;           /* max_size; PY_SSIZE_T_MAX for none */
    Py_ssize_t max_read, next_read;
    int discard_mode;           /* on_overflow == "discard" */
    int eof_frame;              /* on_eof == "frame" */
    int overflowed;             /* FrameTooLarge raised; waiting for a recovery */
    PyObject *deferred;         /* an error drain() owes the next call */
    Py_ssize_t discarded;       /* bytes dropped of an oversized frame; -1: not dropping */
    Py_ssize_t skip;            /* bytes still to drop of it, when its header said */
    Py_ssize_t skipped;
    int busy;                   /* inside a rule or a read: a second caller is refused */
    unsigned long long examined;   /* bytes the built-in searches examined (tests count work) */
    PyObject *weakreflist;
} Manager;

typedef struct {
    PyObject_HEAD
    Manager *mgr;
    uint64_t generation;
    Py_ssize_t exports;         /* live buffers of this frame */
} FrameObject;

/* A window on a manager's bytes that exports the buffer protocol: view() and reserve(). */
typedef struct {
    PyObject_HEAD
    Manager *mgr;               /* owned; borrowed by a manager's own read span (see frame.c) */
    Py_ssize_t offset, length;
    uint64_t moves;             /* the manager's moves when made: refused once they changed */
    int writable;
    int borrows;                /* mgr is borrowed, and owned only while exported */
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

/* module.c: the package's classes, imported once */
extern PyObject *StreamFramerError, *FrameTooLarge, *FrameDiscarded, *FramingError,
    *FrameLifecycleError, *StreamClosed;
extern PyObject *NeedMoreType, *FrameSpanType, *SkipType, *BrokenCondition;
extern PyObject *DelimitedType, *FixedSizeType, *LengthPrefixedType, *UntilAnyType;

extern PyTypeObject ManagerType, FrameType, SpanType, ReaderType, FrameIterType,
    PayloadIterType;

#define DATA(m) PyByteArray_AS_STRING((m)->buf)
#define CAPACITY(m) PyByteArray_GET_SIZE((m)->buf)

/* storage.c: the bytes, and the ways in */
extern const char EXPORTED_MESSAGE[], BUSY_MESSAGE[];
PyObject *lifecycle_error(const char *message);
PyObject *outstanding_error(Manager *mgr);
int check_idle(Manager *mgr);
Py_ssize_t backlog_bytes(Manager *mgr);
int resize(Manager *mgr, Py_ssize_t size);
int compact(Manager *mgr);
int trim(Manager *mgr);
Py_ssize_t make_room(Manager *mgr, Py_ssize_t size, int shorter);
Py_ssize_t next_read_size(Py_ssize_t got, Py_ssize_t asked, Py_ssize_t most);
int flush_backlog(Manager *mgr);
void settle_backlog(Manager *mgr);
Py_ssize_t search(Manager *mgr, Py_ssize_t from, Py_ssize_t to);
PyObject *manager_feed(Manager *mgr, PyObject *data);
PyObject *manager_feed_eof(Manager *mgr, PyObject *unused);
PyObject *manager_reserve(Manager *mgr, PyObject *args, PyObject *kwargs);
PyObject *manager_commit(Manager *mgr, PyObject *arg);
PyObject *manager_fill(Manager *mgr, PyObject *read_into);
int manager_fill_count(Manager *mgr, PyObject *read_into, PyObject **got);

/* framing.c: frames out */
PyObject *manager_next_frame(Manager *mgr, PyObject *rule);
PyObject *manager_drain(Manager *mgr, PyObject *rule);
int manager_consume(Manager *mgr, FrameObject *frame);
void manager_end_frame(Manager *mgr);
extern const char DROPPED_MESSAGE[], VIEWS_MESSAGE[];

/* frame.c */
PyObject *frame_new(Manager *mgr);
void frame_free_cache(void);
int frame_is_live(FrameObject *frame);
PyObject *span_view(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int writable,
                    PyObject **span_out);
PyObject *read_span(Manager *mgr, Py_ssize_t offset, Py_ssize_t length);
extern PyObject *str_release;

/* rules.c */
void spec_clear(RuleSpec *spec);
int spec_load(RuleSpec *spec, PyObject *rule);
int spec_run(const RuleSpec *spec, const char *data, Py_ssize_t size, Py_ssize_t scan,
             RuleResult *out);
Py_ssize_t find_delim(const RuleSpec *spec, const char *data, Py_ssize_t from, Py_ssize_t to);

#endif
