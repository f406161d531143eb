/* Frame, and the exporters behind every view a user gets.
 *
 * A manager has at most one frame outstanding; a Frame holds its manager and the generation it
 * was handed out in, so "is this frame still the live one?" is one comparison, and the span
 * lives in the manager. Frames and spans export the buffer protocol themselves and count their
 * live buffers (and the manager's total): consume() refuses while one of the frame's views is
 * alive, and the manager never moves its bytes while any is.
 *
 * The manager refers to no frame, so a frame the program drops is collected; if it was never
 * consumed, its finalizer gives the bytes back (manager_end_frame): the next read returns them
 * again. A view of a frame keeps the frame alive (the view's exporter is the frame), so that
 * never happens under a live view.
 */
#include "core.h"

static const char CONSUMED_MESSAGE[] =
    "this frame was already consumed; its bytes are gone from the buffer";
static const char ENDED_MESSAGE[] =
    "this frame was ended by clear() or discard() before it was consumed; its bytes are gone "
    "from the buffer";

int
frame_is_live(FrameObject *frame)
{
    Manager *mgr = frame->mgr;
    return mgr->lent == LENT_FRAME && mgr->generation == frame->generation;
}

/* The live frame's manager, or NULL with FrameLifecycleError set. consume() sets a frame's
 * generation to 0, which no frame is handed out in: any other ended frame was ended by
 * clear() or discard(). */
static Manager *
live(FrameObject *frame)
{
    if (!frame_is_live(frame)) {
        PyErr_SetString(FrameLifecycleError,
                        frame->generation == 0 ? CONSUMED_MESSAGE : ENDED_MESSAGE);
        return NULL;
    }
    return frame->mgr;
}

/* A Frame is not tracked by the cyclic garbage collector: it refers to its manager only, and
 * a manager refers to no frame, so a frame closes no cycle of its own; and untracked, making
 * one costs a plain allocation, which matters when frames are 64 bytes long. The last frame
 * freed is kept for the next one (the GIL guards it): a loop that takes and consumes frames
 * then allocates nothing. */
static FrameObject *free_frame;

PyObject *
frame_new(Manager *mgr)
{
    FrameObject *frame = free_frame;
    if (frame != NULL) {
        free_frame = NULL;
        PyObject_Init((PyObject *)frame, &FrameType);
    }
    else {
        frame = PyObject_New(FrameObject, &FrameType);
        if (frame == NULL) {
            return NULL;
        }
    }
    Py_INCREF(mgr);
    frame->mgr = mgr;
    frame->generation = mgr->generation;
    frame->exports = 0;
    return (PyObject *)frame;
}

static PyObject *
frame_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError,
                    "frames come from a BufferManager (next_frame, read_with_rule, ...)");
    return NULL;
}

/* Dropped unconsumed: the bytes go back, and a ResourceWarning says so. Called by the
 * cyclic collector (a frame in a garbage cycle, its manager still intact) or by dealloc. */
static void
frame_finalize(FrameObject *self)
{
    Manager *mgr = self->mgr;
    if (mgr == NULL || !frame_is_live(self)) {
        return;
    }
    PyObject *error = take_error();
    Py_ssize_t size = mgr->end - mgr->start;
    manager_end_frame(mgr);
    /* Last, with the bytes back: a warning raised as an error (-W error) has nowhere to go
     * from here but the unraisable hook. */
    if (PyErr_WarnFormat(PyExc_ResourceWarning, 1, DROPPED_MESSAGE, size) < 0) {
        PyErr_WriteUnraisable((PyObject *)mgr);
    }
    restore_error(error);
}

static void
frame_dealloc(FrameObject *self)
{
    if (self->mgr != NULL && frame_is_live(self)
        && PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) {
        return;   /* the warning's handler kept a reference to it */
    }
    Py_CLEAR(self->mgr);
    if (free_frame == NULL) {
        free_frame = self;
        return;
    }
    PyObject_Free(self);
}

/* At the module's end: the kept frame goes too. */
void
frame_free_cache(void)
{
    if (free_frame != NULL) {
        PyObject_Free(free_frame);
        free_frame = NULL;
    }
}

static PyObject *
frame_consume(FrameObject *self, PyObject *unused)
{
    if (live(self) == NULL || manager_consume(self->mgr, self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
frame_tobytes(FrameObject *self, PyObject *unused)
{
    Manager *mgr = live(self);
    if (mgr == NULL) {
        return NULL;
    }
    return PyBytes_FromStringAndSize(PyByteArray_AS_STRING(mgr->buf) + mgr->start,
                                     mgr->end - mgr->start);
}

static PyObject *
frame_enter(PyObject *self, PyObject *unused)
{
    return Py_NewRef(self);
}

static PyObject *
frame_exit(FrameObject *self, PyObject *args)
{
    if (frame_is_live(self) && manager_consume(self->mgr, self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static Py_ssize_t
frame_length(FrameObject *self)
{
    Manager *mgr = live(self);
    if (mgr == NULL) {
        return -1;
    }
    return mgr->end - mgr->start;
}

static PyObject *
frame_get_view(FrameObject *self, void *closure)
{
    if (live(self) == NULL) {
        return NULL;
    }
    return PyMemoryView_FromObject((PyObject *)self);
}

static PyObject *
frame_get_consumed(FrameObject *self, void *closure)
{
    return PyBool_FromLong(!frame_is_live(self));
}

static int
frame_getbuffer(FrameObject *self, Py_buffer *view, int flags)
{
    Manager *mgr = live(self);
    if (mgr == NULL) {
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self, PyByteArray_AS_STRING(mgr->buf) + mgr->start,
                          mgr->end - mgr->start, 1, flags) < 0) {
        view->obj = NULL;
        return -1;
    }
    self->exports++;
    mgr->exports++;
    return 0;
}

static void
frame_releasebuffer(FrameObject *self, Py_buffer *view)
{
    self->exports--;
    self->mgr->exports--;
}

static PyObject *
frame_richcompare(FrameObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    Manager *mgr = live(self);
    if (mgr == NULL) {
        return NULL;
    }
    Py_buffer theirs;
    if (PyObject_GetBuffer(other, &theirs, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* Getting other's buffer may have run Python (__buffer__) that ended this frame and
     * moved the bytes: look again. other may be a frame of this manager: the comparison
     * reads, and nothing moves. */
    if (live(self) == NULL) {
        PyBuffer_Release(&theirs);
        return NULL;
    }
    Py_ssize_t length = mgr->end - mgr->start;
    int equal = theirs.len == length
        && memcmp(PyByteArray_AS_STRING(mgr->buf) + mgr->start, theirs.buf,
                  (size_t)length) == 0;
    PyBuffer_Release(&theirs);
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

static PyObject *
frame_repr(FrameObject *self)
{
    if (!frame_is_live(self)) {
        return PyUnicode_FromString(self->generation == 0 ? "<Frame consumed>" : "<Frame ended>");
    }
    Manager *mgr = self->mgr;
    Py_ssize_t length = mgr->end - mgr->start;
    /* As the error messages show bytes: the first 32, then an ellipsis. */
    Py_ssize_t shown = length <= 32 ? length : 32;
    PyObject *head = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(mgr->buf) + mgr->start,
                                               shown);
    if (head == NULL) {
        return NULL;
    }
    PyObject *repr = PyUnicode_FromFormat("<Frame %zd bytes %R%s>", length, head,
                                          length > 32 ? "..." : "");
    Py_DECREF(head);
    return repr;
}

static PyMethodDef frame_methods[] = {
    {"consume", (PyCFunction)frame_consume, METH_NOARGS,
     "Remove this frame from the buffer. Raises FrameLifecycleError if it was already\n"
     "consumed, or if a view of it is still alive (then nothing changes)."},
    {"tobytes", (PyCFunction)frame_tobytes, METH_NOARGS, "A copy of the payload."},
    {"__bytes__", (PyCFunction)frame_tobytes, METH_NOARGS, "A copy of the payload."},
    {"__enter__", frame_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)frame_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef frame_getset[] = {
    {"view", (getter)frame_get_view, NULL,
     "A read-only memoryview of the payload. Release it, and every slice or array made from\n"
     "it, before consume().", NULL},
    {"consumed", (getter)frame_get_consumed, NULL,
     "True once this frame is no longer outstanding: consume() removed it, or\n"
     "clear()/discard() ended it.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods frame_as_sequence = {
    .sq_length = (lenfunc)frame_length,
};

static PyBufferProcs frame_as_buffer = {
    .bf_getbuffer = (getbufferproc)frame_getbuffer,
    .bf_releasebuffer = (releasebufferproc)frame_releasebuffer,
};

PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer.Frame",
    .tp_basicsize = sizeof(FrameObject),
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_repr = (reprfunc)frame_repr,
    .tp_as_sequence = &frame_as_sequence,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_as_buffer = &frame_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "One complete frame: a read-only, zero-copy view of its payload in the manager's buffer.\n"
        "\n"
        "bytes(frame) or frame.tobytes() copy the payload; frame.view is a read-only memoryview\n"
        "of it; len(frame) is its length; a frame compares equal to bytes-like objects with the\n"
        "same content. frame.consume() removes the whole frame (header, payload and delimiter)\n"
        "from the buffer; 'with frame:' consumes it on exit.",
    .tp_richcompare = (richcmpfunc)frame_richcompare,
    .tp_methods = frame_methods,
    .tp_getset = frame_getset,
    .tp_new = frame_tp_new,
    .tp_finalize = (destructor)frame_finalize,
};

/* ------------------------------------------------------------------------------------------ */
/* Spans: the exporters of view() and reserve(). */

static int
span_traverse(SpanObject *self, visitproc visit, void *arg)
{
    if (!self->borrows) {
        Py_VISIT(self->mgr);
    }
    return 0;
}

static void
span_dealloc(SpanObject *self)
{
    PyObject_GC_UnTrack(self);
    if (!self->borrows) {
        Py_CLEAR(self->mgr);
    }
    PyObject_GC_Del(self);
}

static int
span_getbuffer(SpanObject *self, Py_buffer *view, int flags)
{
    Manager *mgr = self->mgr;
    if (mgr == NULL || self->moves != mgr->moves) {
        /* Only reachable through memoryview(view.obj) long after: the bytes are elsewhere. */
        PyErr_SetString(FrameLifecycleError,
                        "these bytes have moved since this view was made: take a new view");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, (PyObject *)self,
                          PyByteArray_AS_STRING(mgr->buf) + self->offset, self->length,
                          !self->writable, flags) < 0) {
        view->obj = NULL;
        return -1;
    }
    if (self->borrows) {
        Py_INCREF(mgr);   /* an export keeps the manager, and its bytes, alive */
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
        Py_DECREF(mgr);   /* last: the manager may go now, and clear self->mgr */
    }
}

static PyBufferProcs span_as_buffer = {
    .bf_getbuffer = (getbufferproc)span_getbuffer,
    .bf_releasebuffer = (releasebufferproc)span_releasebuffer,
};

PyTypeObject SpanType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer.BufferSpan",
    .tp_basicsize = sizeof(SpanObject),
    .tp_dealloc = (destructor)span_dealloc,
    .tp_as_buffer = &span_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Bytes of a BufferManager's buffer, lent out as a memoryview (view(), reserve()).",
    .tp_traverse = (traverseproc)span_traverse,
};

/* A memoryview of mgr's bytes [offset, offset + length); *span_out, if given, receives a new
 * reference to its exporter (whose live buffers then say whether the view is still in use). */
PyObject *
span_view(Manager *mgr, Py_ssize_t offset, Py_ssize_t length, int writable, PyObject **span_out)
{
    SpanObject *span = PyObject_GC_New(SpanObject, &SpanType);
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
    span->exports = 0;
    PyObject_GC_Track(span);
    PyObject *view = PyMemoryView_FromObject((PyObject *)span);
    if (view != NULL && span_out != NULL) {
        *span_out = Py_NewRef(span);
    }
    Py_DECREF(span);
    return view;
}

/* The exporter of mgr's bytes [offset, offset + length) for one read (_fill): the manager's
 * own read span, reused read after read, so that a read costs at most one memoryview and not
 * an exporter too. The span borrows its manager (a manager holding a span that held it would be
 * a cycle on every connection) and owns it only while exported; the manager clears span->mgr
 * when it goes. While a source still holds an export of it, a read gets a span of its own.
 * Returns a new reference. */
PyObject *
read_span(Manager *mgr, Py_ssize_t offset, Py_ssize_t length)
{
    SpanObject *span = (SpanObject *)mgr->read_span;
    if (span != NULL && span->exports > 0) {
        span = PyObject_GC_New(SpanObject, &SpanType);
        if (span == NULL) {
            return NULL;
        }
        span->mgr = (Manager *)Py_NewRef(mgr);
        span->borrows = 0;
        span->exports = 0;
        span->writable = 1;
        PyObject_GC_Track(span);
    }
    else if (span == NULL) {
        span = PyObject_GC_New(SpanObject, &SpanType);
        if (span == NULL) {
            return NULL;
        }
        span->mgr = mgr;
        span->borrows = 1;
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
