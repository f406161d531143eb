/* The BufferManager type: construction, attributes, inspection and recovery, and the method
 * table over storage.c (bytes in) and framing.c (frames out).
 */
#include "core.h"
#include "docs.h"
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Inspection and recovery */

static PyObject *
view(Manager *m, PyObject *unused)
{
    if (check_idle(m) < 0 || flush_backlog(m) < 0) {
        return NULL;
    }
    return span_view(m, m->head, m->tail - m->head, 0, NULL);
}

static PyObject *
manager_view(Manager *m, PyObject *unused)
{
    return while_busy(m, view, NULL);
}

/* Only an economy: while a view of the buffer is alive it does nothing. */
static PyObject *
shrink(Manager *m, PyObject *unused)
{
    if (check_idle(m) < 0) {
        return NULL;
    }
    if (m->exports == 0 && trim(m) < 0) {
        if (!PyErr_ExceptionMatches(m->state->FrameLifecycleError)) {
            return NULL;
        }
        PyErr_Clear();   /* a view a rule kept of the bytearray itself */
    }
    Py_RETURN_NONE;
}

static PyObject *
manager_shrink(Manager *m, PyObject *unused)
{
    return while_busy(m, shrink, NULL);
}

static Py_ssize_t
manager_length(Manager *m)
{
    return m->tail - m->head + backlog_bytes(m);
}

/* Drop the first n bytes of the backlog (discard() past the buffered bytes). */
static int
drop_waiting(Manager *m, Py_ssize_t n)
{
    PyObject *backlog = m->backlog;
    m->backlog_size -= n;
    Py_ssize_t whole = 0;
    while (n > 0) {
        PyObject *chunk = PyList_GET_ITEM(backlog, whole);
        Py_ssize_t size = PyBytes_GET_SIZE(chunk);
        if (size > n) {
            PyObject *rest = PyBytes_FromStringAndSize(PyBytes_AS_STRING(chunk) + n, size - n);
            if (rest == NULL) {
                return -1;
            }
            PyList_SET_ITEM(backlog, whole, rest);
            Py_DECREF(chunk);
            break;
        }
        n -= size;
        whole++;
    }
    if (PyList_SetSlice(backlog, 0, whole, NULL) < 0) {
        return -1;
    }
    if (PyList_GET_SIZE(backlog) == 0) {
        Py_CLEAR(m->backlog);
        m->backlog_size = 0;
    }
    return 0;
}

/* Works in every state: an outstanding frame ends here, unless a view of it is alive; a
 * reservation stays valid for its commit() (it lies beyond the bytes dropped). */
static PyObject *
discard(Manager *m, PyObject *arg)
{
    Py_ssize_t buffered = manager_length(m);
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
    if (m->lent == LENT_FRAME) {
        if (m->exports > 0) {
            PyErr_Format(m->state->FrameLifecycleError,
                         "cannot drop the outstanding frame (%zd bytes): a view of it is still "
                         "alive (%s); release it, then try again",
                         m->end - m->start, VIEWS_MESSAGE);
            return NULL;
        }
        end_frame(m);
    }
    Py_ssize_t kept = m->tail - m->head;
    m->head += (Py_ssize_t)n < kept ? (Py_ssize_t)n : kept;   /* reclaimed lazily */
    m->scan = m->head;
    m->want = 0;
    if ((Py_ssize_t)n > kept && drop_waiting(m, (Py_ssize_t)n - kept) < 0) {
        return NULL;
    }
    /* A recovery: forget an overflow, and an error drain() owed for the old bytes. */
    m->overflowed = 0;
    Py_CLEAR(m->deferred);
    Py_CLEAR(m->rule);   /* next_frame() starts from its checks again */
    Py_RETURN_NONE;
}

static PyObject *
manager_discard(Manager *m, PyObject *arg)
{
    if (PyBool_Check(arg) || !PyLong_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "n must be an int, not %s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return while_busy(m, discard, arg);
}

static PyObject *
clear(Manager *m, PyObject *unused)
{
    PyObject *n = PyLong_FromSsize_t(manager_length(m));
    if (n == NULL) {
        return NULL;
    }
    PyObject *result = discard(m, n);
    Py_DECREF(n);
    return result;
}

static PyObject *
manager_clear(Manager *m, PyObject *unused)
{
    return while_busy(m, clear, NULL);
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


/* ------------------------------------------------------------------------------------------ */
/* Construction, attributes */

/* value as a positive size for the setting name, at most most; None means most when
 * none_means_most (max_size=None: no limit). A value beyond most is kept exactly in *exact
 * (a new reference; else NULL there), for reading back and for messages, as the pure core
 * keeps it. The messages are the pure core's. */
static int
parse_size(PyObject *value, const char *name, int none_means_most, Py_ssize_t most,
           Py_ssize_t *out, PyObject **exact)
{
    *exact = NULL;
    if (none_means_most && value == Py_None) {
        *out = most;
        return 0;
    }
    if (PyBool_Check(value) || !PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int%s, not %s", name,
                     none_means_most ? " or None" : "", Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long size = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (size == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow < 0 || (!overflow && size < 1)) {
        PyErr_Format(PyExc_ValueError, "%s must be positive%s, got %S", name,
                     none_means_most ? " (or None for no limit)" : "", value);
        return -1;
    }
    if (overflow || size > most) {
        *out = most;
        *exact = PyNumber_Index(value);   /* an int subclass is read back as an int */
        return *exact == NULL ? -1 : 0;
    }
    *out = (Py_ssize_t)size;
    return 0;
}

/* Set max_size (None: PY_SSIZE_T_MAX, which the pure core also reads back as None) or, when
 * not is_limit, read_size (at most MOST_BYTES asked for by one read). */
static int
set_size(Manager *m, PyObject *value, int is_limit)
{
    Py_ssize_t size;
    PyObject *exact;
    if (parse_size(value, is_limit ? "max_size" : "read_size", is_limit,
                   is_limit ? PY_SSIZE_T_MAX : MOST_BYTES, &size, &exact) < 0) {
        return -1;
    }
    *(is_limit ? &m->limit : &m->max_read) = size;
    Py_XSETREF(*(is_limit ? &m->limit_exact : &m->read_size_exact), exact);
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
    PyObject *limit_exact = NULL, *read_size_exact = NULL;
    int discard_mode = 0, eof_frame = 0;
    if ((max_size != NULL
         && parse_size(max_size, "max_size", 1, PY_SSIZE_T_MAX, &limit, &limit_exact) < 0)
        || (read_size != NULL
            && parse_size(read_size, "read_size", 0, MOST_BYTES, &max_read, &read_size_exact)
                   < 0)
        || (on_overflow != NULL
            && parse_choice(on_overflow, "on_overflow", "error", "discard", &discard_mode) < 0)
        || (on_eof != NULL && parse_choice(on_eof, "on_eof", "raise", "frame", &eof_frame) < 0)) {
        Py_XDECREF(limit_exact);
        Py_XDECREF(read_size_exact);
        return -1;
    }
    Py_XSETREF(m->limit_exact, limit_exact);
    Py_XSETREF(m->read_size_exact, read_size_exact);
    m->limit = limit;
    m->max_read = m->next_read = max_read;
    m->discard_mode = discard_mode;
    m->eof_frame = eof_frame;
    return 0;
}

/* A manager with the default settings, usable as it is: a subclass whose __init__ does not
 * call this one's gets one. The module's state is found here, once, from the type. */
static PyObject *
manager_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    CoreState *state = state_of_type(type);
    if (state == NULL) {
        return NULL;
    }
    Manager *m = (Manager *)type->tp_alloc(type, 0);
    if (m == NULL) {
        return NULL;
    }
    m->state = state;
    m->discarded = -1;
    m->limit = 16 * 1024 * 1024;
    m->max_read = m->next_read = 64 * 1024;
    m->buf = PyByteArray_FromStringAndSize(NULL, 0);
    if (m->buf == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    return (PyObject *)m;
}

static int
manager_traverse(Manager *m, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(m));
    Py_VISIT(m->reserved_view);
    Py_VISIT(m->reserved_span);
    Py_VISIT(m->read_span);
    Py_VISIT(m->rule);
    Py_VISIT(m->scan_rule);
    Py_VISIT(m->backlog);
    Py_VISIT(m->deferred);
    return 0;
}

/* Drops every reference that can close a cycle. The bytearray (which refers to nothing) stays,
 * and so does everything the methods read, so that a manager still reached after a collection
 * cleared it (from a finalizer) refuses or answers, never crashes: a reservation cleared leaves
 * it "waiting for its commit" for good; bytes that waited behind a frame are gone. */
static int
manager_clear_refs(Manager *m)
{
    if (m->read_span != NULL) {
        ((SpanObject *)m->read_span)->mgr = NULL;   /* it borrowed us */
        Py_CLEAR(m->read_span);
    }
    Py_CLEAR(m->reserved_view);
    Py_CLEAR(m->reserved_span);
    Py_CLEAR(m->rule);
    Py_CLEAR(m->scan_rule);
    Py_CLEAR(m->backlog);
    m->backlog_size = 0;
    Py_CLEAR(m->deferred);
    Py_CLEAR(m->limit_exact);
    Py_CLEAR(m->read_size_exact);
    spec_clear(&m->spec);
    return 0;
}

static void
manager_dealloc(Manager *m)
{
    PyTypeObject *type = Py_TYPE(m);
    PyObject_GC_UnTrack(m);
    if (m->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)m);
    }
    manager_clear_refs(m);
    unpin(m);
    Py_CLEAR(m->buf);
    frame_free_spare(m);
    type->tp_free((PyObject *)m);
    Py_DECREF(type);
}

static PyObject *
get_max_size(Manager *m, void *closure)
{
    if (m->limit == PY_SSIZE_T_MAX && m->limit_exact == NULL) {
        Py_RETURN_NONE;
    }
    return limit_value(m);
}

static int
set_max_size(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete max_size");
        return -1;
    }
    if (set_size(m, value, 1) < 0) {
        return -1;
    }
    /* A recovery: forget an overflow, and an error drain() owed for the old limit. */
    m->overflowed = 0;
    Py_CLEAR(m->deferred);
    Py_CLEAR(m->rule);
    return 0;
}

static PyObject *
get_read_size(Manager *m, void *closure)
{
    if (m->read_size_exact != NULL) {
        return Py_NewRef(m->read_size_exact);
    }
    return PyLong_FromSsize_t(m->max_read);
}

static int
set_read_size(Manager *m, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete read_size");
        return -1;
    }
    return set_size(m, value, 0);
}

/* on_overflow and on_eof: a policy of two words, stored as 0 or 1 in the manager. */
typedef struct {
    const char *name, *first, *second;
    size_t offset;   /* of the int in Manager */
} Policy;

static Policy ON_OVERFLOW = {"on_overflow", "error", "discard", offsetof(Manager, discard_mode)};
static Policy ON_EOF = {"on_eof", "raise", "frame", offsetof(Manager, eof_frame)};

static PyObject *
get_policy(Manager *m, void *closure)
{
    Policy *policy = closure;
    int *value = (int *)((char *)m + policy->offset);
    return PyUnicode_FromString(*value ? policy->second : policy->first);
}

static int
set_policy(Manager *m, PyObject *value, void *closure)
{
    Policy *policy = closure;
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "cannot delete %s", policy->name);
        return -1;
    }
    return parse_choice(value, policy->name, policy->first, policy->second,
                        (int *)((char *)m + policy->offset));
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
        m->busy ? " in use"
        : m->lent == LENT_RESERVED ? " reserved"
        : m->lent == LENT_FRAME ? " frame outstanding" : "",
        m->eof ? " eof" : "");
    Py_DECREF(max_size);
    return repr;
}

static PyMethodDef manager_methods[] = {
    {"feed", (PyCFunction)manager_feed, METH_O, FEED_DOC},
    {"feed_eof", (PyCFunction)manager_feed_eof, METH_NOARGS, FEED_EOF_DOC},
    {"next_frame", (PyCFunction)manager_next_frame_method, METH_O, NEXT_FRAME_DOC},
    {"drain", (PyCFunction)manager_drain_method, METH_O, DRAIN_DOC},
    {"reserve", (PyCFunction)(void (*)(void))manager_reserve, METH_VARARGS | METH_KEYWORDS,
     RESERVE_DOC},
    {"commit", (PyCFunction)manager_commit, METH_O, COMMIT_DOC},
    {"_fill", (PyCFunction)manager_fill, METH_O, FILL_DOC},
    {"view", (PyCFunction)manager_view, METH_NOARGS, VIEW_DOC},
    {"__sizeof__", (PyCFunction)manager_sizeof, METH_NOARGS, SIZEOF_DOC},
    {"shrink", (PyCFunction)manager_shrink, METH_NOARGS, SHRINK_DOC},
    {"clear", (PyCFunction)manager_clear, METH_NOARGS, CLEAR_DOC},
    {"discard", (PyCFunction)manager_discard, METH_O, DISCARD_DOC},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef manager_getset[] = {
    {"max_size", (getter)get_max_size, (setter)set_max_size, MAX_SIZE_DOC, NULL},
    {"read_size", (getter)get_read_size, (setter)set_read_size, READ_SIZE_DOC, NULL},
    {"on_overflow", (getter)get_policy, (setter)set_policy, ON_OVERFLOW_DOC, &ON_OVERFLOW},
    {"on_eof", (getter)get_policy, (setter)set_policy, ON_EOF_DOC, &ON_EOF},
    {"at_eof", (getter)get_at_eof, NULL, AT_EOF_DOC, NULL},
    {"_examined", (getter)get_examined, NULL,
     "Bytes the built-in rules' searches examined so far: linear-time tests count it.", NULL},
    {"skipped", (getter)get_skipped, NULL, SKIPPED_DOC, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef manager_members[] = {
    {"__weaklistoffset__", Py_T_PYSSIZET, offsetof(Manager, weakreflist), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot manager_slots[] = {
    {Py_tp_dealloc, manager_dealloc},
    {Py_tp_repr, manager_repr},
    {Py_sq_length, manager_length},
    {Py_tp_doc, MANAGER_DOC},
    {Py_tp_traverse, manager_traverse},
    {Py_tp_clear, manager_clear_refs},
    {Py_tp_members, manager_members},
    {Py_tp_methods, manager_methods},
    {Py_tp_getset, manager_getset},
    {Py_tp_init, manager_init},
    {Py_tp_new, manager_tp_new},
    {0, NULL},
};

PyType_Spec manager_spec = {
    .name = "streamframer.BufferManager",
    .basicsize = sizeof(Manager),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = manager_slots,
};
