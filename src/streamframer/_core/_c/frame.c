/* Frame: the one frame a manager lends its buffer to, handed out and consumed here.
 *
 * A manager has at most one frame outstanding; a Frame holds its manager and the generation it
 * was handed out in, so "is this frame still the live one?" is one comparison, and the span
 * lives in the manager. A frame exports the buffer protocol itself and counts its live buffers
 * (and the manager's total): consume() refuses while one of the frame's views is alive, and the
 * manager never moves its bytes while any is. Calls down: storage.c (the backlog a consume
 * settles).
 */
#include "core.h"
#include "docs.h"

static const char CONSUMED_MESSAGE[] =
    "this frame was already consumed; its bytes are gone from the buffer";
static const char ENDED_MESSAGE[] =
    "this frame was ended by clear() or discard() before it was consumed; its bytes are gone "
    "from the buffer";

/* What may hold a view of the outstanding frame: named by every error a live view causes. */
const char VIEWS_MESSAGE[] =
    "frame.view, a slice of it, memoryview(frame), an array built on it, or a "
    "BufferManager.view() taken before";

/* Why frame is no longer outstanding: consume() sets a frame's generation to 0, which no
 * frame is handed out in; any other frame was ended by clear() or discard(). */
static const char *
gone_message(FrameObject *frame)
{
    return frame->generation == 0 ? CONSUMED_MESSAGE : ENDED_MESSAGE;
}

/* The live frame's manager, or NULL with FrameLifecycleError set. */
static Manager *
live(FrameObject *frame)
{
    if (!frame_is_live(frame)) {
        PyErr_SetString(frame->mgr->state->FrameLifecycleError,
                        frame->mgr->busy ? BUSY_MESSAGE : gone_message(frame));
        return NULL;
    }
    return frame->mgr;
}

/* The outstanding frame ends: consumed, ended by clear()/discard(), or given back when it was
 * dropped unconsumed (its bytes then stay where they are, and the next read finds the frame
 * again from the scan position, which a frame handed out leaves before its end). */
void
end_frame(Manager *m)
{
    m->lent = LENT_NONE;
    m->generation++;
    if (m->backlog != NULL) {
        settle_backlog(m);
    }
}

/* A frame collected without consume() gives its bytes back: bytes leave only through
 * consume(), so the next read returns the same frame again, and a ResourceWarning says so. A
 * view of a frame holds the frame (it is the view's exporter), so this never happens under a
 * live view. The warning runs Python from a dealloc: the exception being raised is kept, the
 * frame is not shown to it, and a warning raised as an error (-W error) goes to the
 * unraisable hook, the bytes already back. */
static void
give_back(Manager *m)
{
    PyObject *error = take_error();
    Py_ssize_t size = m->end - m->start;
    end_frame(m);
    if (PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                         "a frame (%zd bytes) was dropped unconsumed: its bytes stay in the "
                         "buffer and the next read returns them again (call frame.consume(), "
                         "or use 'with frame:', to remove them)",
                         size) < 0) {
        PyErr_WriteUnraisable((PyObject *)m);
    }
    restore_error(error);
}

/* A Frame is tracked by the cyclic garbage collector: a frame held by its manager's subclass,
 * or by the object whose bound method is the rule, closes a cycle through the manager. The
 * frame always holds its manager (it has no tp_clear: the manager's breaks every such cycle),
 * so a frame reached after a collection still answers, at worst "consumed". The memory of the
 * last frame a manager freed is kept for its next one: a loop that takes and consumes frames
 * then allocates nothing. */
PyObject *
frame_new(Manager *mgr)
{
    PyTypeObject *type = mgr->state->FrameType;
    FrameObject *frame = mgr->spare_frame;
    if (frame != NULL) {
        mgr->spare_frame = NULL;
        PyObject_Init((PyObject *)frame, type);
    }
    else {
        frame = PyObject_GC_New(FrameObject, type);
        if (frame == NULL) {
            return NULL;
        }
    }
    frame->mgr = (Manager *)Py_NewRef(mgr);
    frame->generation = mgr->generation;
    frame->exports = 0;
    PyObject_GC_Track(frame);
    return (PyObject *)frame;
}

/* tp_new of the types only the core makes. */
PyObject *
refuse_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_Format(PyExc_TypeError, "cannot create '%s' instances", type->tp_name);
    return NULL;
}

/* Consume frame, under the busy mark. */
static inline int
consume(Manager *m, FrameObject *frame)
{
    if (!frame_is_outstanding(frame)) {
        lifecycle_error(m, gone_message(frame));
        return -1;
    }
    if (frame->exports > 0) {
        PyErr_Format(m->state->FrameLifecycleError,
                     "cannot consume: a view of this frame is still alive (%s); release it, "
                     "then consume() again",
                     VIEWS_MESSAGE);
        return -1;
    }
    m->head = m->scan = m->consume;
    end_frame(m);
    frame->generation = 0;   /* consumed, not ended by clear() */
    return 0;
}

int
consume_frame(Manager *m, FrameObject *frame)
{
    return consume(m, frame);
}

int
manager_consume(Manager *m, FrameObject *frame)
{
    if (enter(m) < 0) {
        return -1;
    }
    int status = consume(m, frame);
    leave(m);
    return status;
}

static PyObject *
frame_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyErr_SetString(PyExc_TypeError,
                    "frames come from a BufferManager (next_frame, read_with_rule, ...)");
    return NULL;
}

static int
frame_traverse(FrameObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->mgr);
    return 0;
}

static void
frame_dealloc(FrameObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Manager *mgr = self->mgr;
    if (frame_is_outstanding(self)) {
        give_back(mgr);   /* dropped unconsumed */
    }
    if (mgr->spare_frame == NULL) {
        mgr->spare_frame = self;   /* freed with the manager if not used again */
    }
    else {
        PyObject_GC_Del(self);
    }
    Py_DECREF(mgr);
    Py_DECREF(type);
}

/* When the manager goes: the frame memory it kept goes too. */
void
frame_free_spare(Manager *mgr)
{
    if (mgr->spare_frame != NULL) {
        PyObject_GC_Del(mgr->spare_frame);
        mgr->spare_frame = NULL;
    }
}

static PyObject *
frame_consume(FrameObject *self, PyObject *unused)
{
    if (manager_consume(self->mgr, self) < 0) {
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
frame_exit(FrameObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "__exit__ takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
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
    int equal;
    if (PyBytes_CheckExact(other) || PyByteArray_CheckExact(other) || PyMemoryView_Check(other)
        || Py_IS_TYPE(other, mgr->state->FrameType)) {
        /* Buffers that run no Python: compared in place (another frame no longer live raises,
         * as its tobytes() does in the pure core). */
        Py_buffer theirs;
        if (PyObject_GetBuffer(other, &theirs, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        Py_ssize_t length = mgr->end - mgr->start;
        equal = theirs.len == length
            && memcmp(PyByteArray_AS_STRING(mgr->buf) + mgr->start, theirs.buf,
                      (size_t)length) == 0;
        PyBuffer_Release(&theirs);
    }
    else {
        /* Anything else, as the pure core compares it: the payload's copy == other, which may
         * run Python (__buffer__, __eq__), under the busy mark. */
        if (enter(mgr) < 0) {
            return NULL;
        }
        PyObject *copy = PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(mgr->buf) + mgr->start,
                                                       mgr->end - mgr->start);
        equal = copy == NULL ? -1 : PyObject_RichCompareBool(copy, other, Py_EQ);
        Py_XDECREF(copy);
        leave(mgr);
        if (equal < 0) {
            return NULL;
        }
    }
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
    {"consume", (PyCFunction)frame_consume, METH_NOARGS, CONSUME_DOC},
    {"tobytes", (PyCFunction)frame_tobytes, METH_NOARGS, TOBYTES_DOC},
    {"__enter__", frame_enter, METH_NOARGS, ENTER_DOC},
    {"__exit__", (PyCFunction)(void (*)(void))frame_exit, METH_FASTCALL, EXIT_DOC},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef frame_getset[] = {
    {"view", (getter)frame_get_view, NULL, FRAME_VIEW_DOC, NULL},
    {"consumed", (getter)frame_get_consumed, NULL, CONSUMED_DOC, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot frame_slots[] = {
    {Py_tp_dealloc, frame_dealloc},
    {Py_tp_traverse, frame_traverse},
    {Py_tp_repr, frame_repr},
    {Py_sq_length, frame_length},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_bf_getbuffer, frame_getbuffer},
    {Py_bf_releasebuffer, frame_releasebuffer},
    {Py_tp_doc, FRAME_DOC},
    {Py_tp_richcompare, frame_richcompare},
    {Py_tp_methods, frame_methods},
    {Py_tp_getset, frame_getset},
    {Py_tp_new, frame_tp_new},
    {0, NULL},
};

PyType_Spec frame_spec = {
    .name = "streamframer.Frame",
    .basicsize = sizeof(FrameObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = frame_slots,
};
