/* Spans: the exporters behind view(), reserve() and _fill(), each a window on a manager's
 * bytes that exports the buffer protocol and counts its live buffers (and the manager's total),
 * so that the manager never moves its bytes while one is alive. The bottom of the C files with
 * rules.c: it calls nothing of the others.
 */
#include "core.h"

static int
span_traverse(SpanObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    if (!self->borrows) {
        Py_VISIT(self->mgr);
    }
    return 0;
}

static void
span_dealloc(SpanObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (!self->borrows) {
        Py_CLEAR(self->mgr);
    }
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

static int
span_getbuffer(SpanObject *self, Py_buffer *view, int flags)
{
    Manager *mgr = self->mgr;
    if (self->closed || mgr == NULL || self->moves != mgr->moves) {
        /* Only reachable through memoryview(view.obj) long after: the read is over, or the
         * bytes are elsewhere. */
        CoreState *state = PyType_GetModuleState(Py_TYPE(self));
        PyErr_SetString(state != NULL ? state->FrameLifecycleError : PyExc_BufferError,
                        self->closed
                            ? "this read is over: the buffer it was given can no longer be used"
                            : "these bytes have moved since this view was made: take a new view");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, PyByteArray_AS_STRING(mgr->buf) + self->offset,
                          self->length, !self->writable, flags)
        < 0) {
        view->obj = NULL;
        return -1;
    }
    if (self->borrows) {
        Py_INCREF(mgr); /* an export keeps the manager, and its bytes, alive */
    }
    self->exports++;
    mgr->exports++;
    return 0;
}

static void
span_releasebuffer(SpanObject *self, Py_buffer *view)
{
    Manager *mgr = self->mgr;
    self->exports--;
    mgr->exports--;
    if (self->borrows) {
        Py_DECREF(mgr); /* last: the manager may go now, and clear self->mgr */
    }
}

static PyType_Slot span_slots[] = {
    {Py_tp_dealloc, span_dealloc},
    {Py_tp_traverse, span_traverse},
    {Py_bf_getbuffer, span_getbuffer},
    {Py_bf_releasebuffer, span_releasebuffer},
    {Py_tp_doc,
     "Bytes of a BufferManager's buffer, lent out as a memoryview (view(), reserve())."},
    {Py_tp_new, refuse_new},
    {0, NULL},
};

PyType_Spec span_spec = {
    .name = "streamframer.BufferSpan",
    .basicsize = sizeof(SpanObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = span_slots,
};

/* A memoryview of mgr's bytes [offset, offset + length); *span_out, if given, receives a new
 * reference to its exporter (whose live buffers then say whether the view is still in use). */
PyObject *
span_view(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int writable, PyObject **span_out)
{
    SpanObject *span = PyObject_GC_New(SpanObject, mgr->state->SpanType);
    if (span == NULL) {
        return NULL;
    }
    Py_INCREF(mgr);
    span->mgr = mgr;
    span->offset = offset;
    span->length = length;
    span->moves = mgr->moves;
    span->writable = writable;
    span->borrows = 0;
    span->closed = 0;
    span->exports = 0;
    PyObject_GC_Track(span);
    PyObject *view = PyMemoryView_FromObject((PyObject *)span);
    if (view != NULL && span_out != NULL) {
        *span_out = Py_NewRef(span);
    }
    Py_DECREF(span);
    return view;
}

/* The exporter of mgr's bytes [offset, offset + length) for one read (_fill). When reusable,
 * the manager's own read span, reused read after read, so that a read costs no exporter of its
 * own. The span borrows its manager (a manager holding a span that held it would be a cycle on
 * every connection) and owns it only while exported; the manager clears span->mgr when it
 * goes. While a source still holds an export of it, or when not reusable, a read gets a span
 * of its own. Returns a new reference. */
PyObject *
read_span(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int reusable)
{
    SpanObject *span = (SpanObject *)mgr->read_span;
    if (!reusable || (span != NULL && span->exports > 0)) {
        span = PyObject_GC_New(SpanObject, mgr->state->SpanType);
        if (span == NULL) {
            return NULL;
        }
        span->mgr = (Manager *)Py_NewRef(mgr);
        span->borrows = 0;
        span->closed = 0;
        span->exports = 0;
        span->writable = 1;
        PyObject_GC_Track(span);
    }
    else if (span == NULL) {
        span = PyObject_GC_New(SpanObject, mgr->state->SpanType);
        if (span == NULL) {
            return NULL;
        }
        span->mgr = mgr;
        span->borrows = 1;
        span->closed = 0;
        span->exports = 0;
        span->writable = 1;
        PyObject_GC_Track(span);
        mgr->read_span = Py_NewRef(span);
    }
    else {
        Py_INCREF(span);
    }
    span->offset = offset;
    span->length = length;
    span->moves = mgr->moves;
    return (PyObject *)span;
}
