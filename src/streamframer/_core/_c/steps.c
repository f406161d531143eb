/* The steps of `async for frame in reader` (the asyncio adapter's FramedReader) for a manager of
 * this core: compiled(3, reference, wait), called as (reader, mgr, protocol), gives an
 * asynchronous iterator that is its own awaitable. A step that finds a complete frame buffered
 * returns it through am_send, with no coroutine, no future and no generator frame; a step that
 * must wait runs the adapter's wait(reader) coroutine and hands every send and throw through to
 * it until it returns the frame. The reference (the adapter's async generator) states what a
 * step does, and runs instead on Pythons without am_send (3.9) and for a manager of another
 * implementation. The anyio adapter's FramedStream uses the same steps with no protocol (None):
 * its reads are its wait's. A step, as the reference's:
 *
 *   1. the first one calls reader._consume_yielded() (the last frame of a loop left early);
 *   2. the frame the previous step gave is consumed, unless the loop body did;
 *   3. while a reservation is outstanding (protocol._reserved: the manager's reserve() awaits
 *      its commit()), the step is wait(reader); with reading paused (protocol._paused) and
 *      at most protocol._read_ahead // 2 bytes buffered, protocol._resume() first;
 *   4. otherwise frame = mgr.next_frame(reader.rule): a frame is set as reader._yielded and
 *      returned, None makes the step wait(reader), and StreamClosed without a partial frame
 *      ends the iteration.
 *
 * Like an async generator, the iteration is over once a step raised (the end included), and a
 * step that is already running (re-entered from a rule) is refused. Calls down: framing.c
 * (manager_next_frame) and frame.c (manager_consume).
 */
#include "core.h"

#if PY_VERSION_HEX >= 0x030A0000

/* An attribute the steps read or write each step (protocol._paused, reader.rule,
 * reader._yielded), through the data descriptor the object's class holds for it (a __slots__
 * member), found once when the steps are made. An instance cannot shadow a data descriptor, so
 * with the generic getattr this is what getattr does, minus the lookup; otherwise (no such
 * descriptor, a class with its own __getattribute__ or __setattr__) plain getattr and setattr. */
typedef struct {
    PyObject *name;
    PyObject *descr; /* or NULL */
} Attribute;

static int
attribute_find(Attribute *attr, PyObject *obj, PyObject *name)
{
    attr->name = name;
    attr->descr = NULL;
    PyTypeObject *type = Py_TYPE(obj);
    if (type->tp_getattro != PyObject_GenericGetAttr
        || type->tp_setattro != PyObject_GenericSetAttr) {
        return 0;
    }
    PyObject *descr;
    if (PyObject_GetOptionalAttr_compat((PyObject *)type, name, &descr) < 0) {
        return -1;
    }
    if (descr != NULL && Py_TYPE(descr)->tp_descr_get != NULL
        && Py_TYPE(descr)->tp_descr_set != NULL) {
        attr->descr = descr;
    }
    else {
        Py_XDECREF(descr);
    }
    return 0;
}

static PyObject *
attribute_get(Attribute *attr, PyObject *obj)
{
    PyObject *descr = attr->descr;
    if (descr == NULL) {
        return PyObject_GetAttr(obj, attr->name);
    }
    return Py_TYPE(descr)->tp_descr_get(descr, obj, (PyObject *)Py_TYPE(obj));
}

static int
attribute_set(Attribute *attr, PyObject *obj, PyObject *value)
{
    PyObject *descr = attr->descr;
    if (descr == NULL) {
        return PyObject_SetAttr(obj, attr->name, value);
    }
    return Py_TYPE(descr)->tp_descr_set(descr, obj, value);
}

typedef struct {
    PyObject_HEAD
    CoreState *state;
    PyObject *reader, *protocol, *wait;
    Attribute paused, read_ahead, rule, yielded;
    Manager *mgr;
    PyObject *frame;   /* the frame the last step gave: consumed when the next starts */
    PyObject *waiting; /* the wait(reader) coroutine of a step that waits, or NULL */
    int started;
    int running;
    int done;
} StepsObject;

static int
steps_traverse(StepsObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->reader);
    Py_VISIT(self->protocol);
    Py_VISIT(self->wait);
    Py_VISIT(self->mgr);
    Py_VISIT(self->frame);
    Py_VISIT(self->waiting);
    Py_VISIT(self->paused.descr);
    Py_VISIT(self->read_ahead.descr);
    Py_VISIT(self->rule.descr);
    Py_VISIT(self->yielded.descr);
    return 0;
}

static int
steps_clear(StepsObject *self)
{
    Py_CLEAR(self->reader);
    Py_CLEAR(self->protocol);
    Py_CLEAR(self->wait);
    Py_CLEAR(self->mgr);
    Py_CLEAR(self->frame);
    Py_CLEAR(self->waiting);
    Py_CLEAR(self->paused.descr);
    Py_CLEAR(self->read_ahead.descr);
    Py_CLEAR(self->rule.descr);
    Py_CLEAR(self->yielded.descr);
    return 0;
}

static void
steps_dealloc(StepsObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    steps_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

PyObject *
steps_new(CoreState *state, PyObject *wait, PyObject *reader, Manager *mgr, PyObject *protocol)
{
    StepsObject *self = PyObject_GC_New(StepsObject, state->StepsType);
    if (self == NULL) {
        return NULL;
    }
    self->state = state;
    self->reader = Py_NewRef(reader);
    self->protocol = protocol == Py_None ? NULL : Py_NewRef(protocol);
    self->wait = Py_NewRef(wait);
    self->mgr = (Manager *)Py_NewRef(mgr);
    self->frame = NULL;
    self->waiting = NULL;
    self->started = 0;
    self->running = 0;
    self->done = 0;
    self->paused.descr = self->read_ahead.descr = self->rule.descr = self->yielded.descr = NULL;
    PyObject_GC_Track(self);
    if ((self->protocol != NULL
         && (attribute_find(&self->paused, protocol, state->str_paused) < 0
             || attribute_find(&self->read_ahead, protocol, state->str_read_ahead) < 0))
        || attribute_find(&self->rule, reader, state->str_rule) < 0
        || attribute_find(&self->yielded, reader, state->str_yielded) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Consume what the previous step gave, unless the loop body did (frame.__exit__). */
static int
release(StepsObject *self, PyObject *previous)
{
    if (Py_TYPE(previous) == self->state->FrameType) {
        FrameObject *frame = (FrameObject *)previous;
        return frame_is_live(frame) ? manager_consume(frame->mgr, frame) : 0;
    }
    PyObject *done = PyObject_CallMethod(previous, "__exit__", "OOO", Py_None, Py_None, Py_None);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* Whether the step may take a buffered frame: not while a reservation awaits its commit() (the
 * wait settles it). Reading paused resumes once the task has caught up, as the reference does.
 * 1, 0, or -1 on error. */
static int
steady(StepsObject *self)
{
    if (self->mgr->lent == LENT_RESERVED) {
        return 0;
    }
    if (self->protocol == NULL) {
        return 1;
    }
    PyObject *paused = attribute_get(&self->paused, self->protocol);
    int set = paused == NULL ? -1 : PyObject_IsTrue(paused);
    Py_XDECREF(paused);
    if (set <= 0) {
        return set < 0 ? -1 : 1;
    }
    /* Clamped: a read_ahead beyond Py_ssize_t compares as the reference's int does. */
    PyObject *read_ahead = attribute_get(&self->read_ahead, self->protocol);
    Py_ssize_t most = read_ahead == NULL ? -1 : PyNumber_AsSsize_t(read_ahead, NULL);
    Py_XDECREF(read_ahead);
    if (most == -1 && PyErr_Occurred()) {
        return -1;
    }
    Manager *m = self->mgr;
    if (m->tail - m->head + backlog_bytes(m) <= most / 2) {
        PyObject *done = PyObject_CallMethodNoArgs(self->protocol, self->state->str_resume);
        if (done == NULL) {
            return -1;
        }
        Py_DECREF(done);
    }
    return 1;
}

/* next_frame raised: StreamClosed without a partial frame is the end of the iteration. */
static PySendResult
stopped(StepsObject *self)
{
    if (!PyErr_ExceptionMatches(self->state->StreamClosed)) {
        return PYGEN_ERROR;
    }
    PyObject *exc = take_error();
    PyObject *partial = PyObject_GetAttr(exc, self->state->str_partial);
    int truth = partial == NULL ? -1 : PyObject_IsTrue(partial);
    Py_XDECREF(partial);
    if (truth != 0) {
        if (truth > 0) {
            restore_error(exc);
        }
        else {
            Py_DECREF(exc);
        }
        return PYGEN_ERROR;
    }
    Py_DECREF(exc);
    PyErr_SetNone(PyExc_StopAsyncIteration);
    return PYGEN_ERROR;
}

/* Send arg into the waiting coroutine; when it returns, its frame is this step's. */
static PySendResult
resume(StepsObject *self, PyObject *arg, PyObject **result)
{
    PyObject *waiting = Py_NewRef(self->waiting);
    PySendResult status = PyIter_Send(waiting, arg, result);
    if (status != PYGEN_NEXT) {
        Py_CLEAR(self->waiting);
        if (status == PYGEN_RETURN) {
            Py_XSETREF(self->frame, Py_NewRef(*result));
        }
    }
    Py_DECREF(waiting);
    return status;
}

/* A new step: a buffered frame at once, or the wait begins. */
static PySendResult
step(StepsObject *self, PyObject **result)
{
    CoreState *state = self->state;
    if (!self->started) {
        self->started = 1;
        PyObject *done = PyObject_CallMethodNoArgs(self->reader, state->str_consume_yielded);
        if (done == NULL) {
            return PYGEN_ERROR;
        }
        Py_DECREF(done);
    }
    PyObject *previous = self->frame;
    self->frame = NULL;
    if (previous != NULL) {
        int failed = release(self, previous);
        Py_DECREF(previous);
        if (failed) {
            return PYGEN_ERROR;
        }
    }
    int quick = steady(self);
    if (quick < 0) {
        return PYGEN_ERROR;
    }
    if (quick) {
        PyObject *rule = attribute_get(&self->rule, self->reader);
        if (rule == NULL) {
            return PYGEN_ERROR;
        }
        PyObject *frame = manager_next_frame(self->mgr, rule);
        Py_DECREF(rule);
        if (frame == NULL) {
            return stopped(self);
        }
        if (frame != Py_None) {
            if (attribute_set(&self->yielded, self->reader, frame) < 0) {
                Py_DECREF(frame);
                return PYGEN_ERROR;
            }
            self->frame = Py_NewRef(frame);
            *result = frame;
            return PYGEN_RETURN;
        }
        Py_DECREF(frame);
    }
    self->waiting = PyObject_CallOneArg(self->wait, self->reader);
    if (self->waiting == NULL) {
        return PYGEN_ERROR;
    }
    return resume(self, Py_None, result);
}

/* A step re-entered (from a rule it runs) is refused with the async generator's errors:
 * RuntimeError for a send, ValueError for a throw or a close. */
static int
enter_step(StepsObject *self, PyObject *error, const char *call)
{
    if (self->running) {
        PyErr_Format(error, "%s: this async for step is already running", call);
        return -1;
    }
    self->running = 1;
    return 0;
}

/* am_send: the step's result (PYGEN_RETURN), a value the wait yields to the event loop
 * (PYGEN_NEXT), or an error, after which the iteration is over. */
static PySendResult
steps_send(StepsObject *self, PyObject *arg, PyObject **result)
{
    *result = NULL;
    if (self->done) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return PYGEN_ERROR;
    }
    if (enter_step(self, PyExc_RuntimeError, "anext()") < 0) {
        return PYGEN_ERROR;
    }
    PySendResult status = self->waiting != NULL ? resume(self, arg, result) : step(self, result);
    self->running = 0;
    if (status == PYGEN_ERROR) {
        self->done = 1;
    }
    return status;
}

/* The step's result as iterators return one: StopIteration(value). */
static PyObject *
returned(PySendResult status, PyObject *result)
{
    if (status != PYGEN_RETURN) {
        return status == PYGEN_NEXT ? result : NULL;
    }
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
    Py_DECREF(result);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyObject *
steps_iternext(StepsObject *self)
{
    PyObject *result;
    PySendResult status = steps_send(self, Py_None, &result);
    return returned(status, result);
}

static PyObject *
steps_send_method(StepsObject *self, PyObject *arg)
{
    PyObject *result;
    PySendResult status = steps_send(self, arg, &result);
    return returned(status, result);
}

/* The exception throw() was given, as one instance (the (type, value, traceback) form
 * included, which coroutines' throw() deprecates from 3.12 on). */
static PyObject *
thrown(PyObject *args)
{
    PyObject *type, *value = Py_None, *traceback = Py_None;
    if (!PyArg_UnpackTuple(args, "throw", 1, 3, &type, &value, &traceback)) {
        return NULL;
    }
    PyObject *exc;
    if (PyExceptionInstance_Check(type)) {
        exc = Py_NewRef(type);
    }
    else if (PyExceptionClass_Check(type)) {
        if (PyObject_TypeCheck(value, (PyTypeObject *)type)) {
            exc = Py_NewRef(value);
        }
        else {
            exc = value == Py_None ? PyObject_CallNoArgs(type) : PyObject_CallOneArg(type, value);
        }
        if (exc != NULL && !PyExceptionInstance_Check(exc)) {
            PyErr_Format(PyExc_TypeError, "%R did not make an exception", type);
            Py_CLEAR(exc);
        }
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "exceptions must be classes or instances deriving from BaseException, not %s",
                     Py_TYPE(type)->tp_name);
        return NULL;
    }
    if (exc != NULL && traceback != Py_None && PyException_SetTraceback(exc, traceback) < 0) {
        Py_CLEAR(exc);
    }
    return exc;
}

/* throw(): into the wait, where one runs (a cancelled task); raised here otherwise. */
static PyObject *
steps_throw(StepsObject *self, PyObject *args)
{
    PyObject *exc = thrown(args);
    if (exc == NULL) {
        return NULL;
    }
    if (enter_step(self, PyExc_ValueError, "throw()") < 0) {
        Py_DECREF(exc);
        return NULL;
    }
    if (self->waiting == NULL || self->done) {
        self->running = 0;
        self->done = 1;
        restore_error(exc);
        return NULL;
    }
    PyObject *waiting = Py_NewRef(self->waiting);
    PyObject *yielded = PyObject_CallMethod(waiting, "throw", "O", exc);
    Py_DECREF(exc);
    self->running = 0;
    if (yielded != NULL) {
        Py_DECREF(waiting);
        return yielded; /* still waiting */
    }
    Py_CLEAR(self->waiting);
    Py_DECREF(waiting);
    if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
        self->done = 1;
        return NULL;
    }
    /* The wait caught it and returned its frame: that is this step's. */
    PyObject *stop = take_error();
    PyObject *value = PyObject_GetAttrString(stop, "value");
    if (value == NULL) {
        Py_DECREF(stop);
        self->done = 1;
        return NULL;
    }
    Py_XSETREF(self->frame, value);
    restore_error(stop);
    return NULL;
}

static PyObject *
steps_close(StepsObject *self, PyObject *unused)
{
    if (enter_step(self, PyExc_ValueError, "close()") < 0) {
        return NULL;
    }
    self->done = 1;
    PyObject *waiting = self->waiting;
    self->waiting = NULL;
    PyObject *closed = waiting == NULL ? Py_NewRef(Py_None)
                                       : PyObject_CallMethod(waiting, "close", NULL);
    self->running = 0;
    Py_XDECREF(waiting);
    return closed;
}

static PyObject *
steps_self(PyObject *self)
{
    return Py_NewRef(self);
}

static PyMethodDef steps_methods[] = {
    {"send", (PyCFunction)steps_send_method, METH_O, "Resume the step (the awaitable's send)."},
    {"throw", (PyCFunction)steps_throw, METH_VARARGS, "Raise an exception in the step."},
    {"close", (PyCFunction)steps_close, METH_NOARGS, "End the iteration (a waiting step too)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot steps_slots[] = {
    {Py_tp_dealloc, steps_dealloc},
    {Py_tp_traverse, steps_traverse},
    {Py_tp_clear, steps_clear},
    {Py_tp_iter, steps_self},
    {Py_tp_iternext, steps_iternext},
    {Py_tp_methods, steps_methods},
    {Py_am_aiter, steps_self},
    {Py_am_anext, steps_self},
    {Py_am_await, steps_self},
    {Py_am_send, steps_send},
    {Py_tp_new, refuse_new},
    {Py_tp_doc, "The steps of async for over a FramedReader (made by the reader)."},
    {0, NULL},
};

PyType_Spec steps_spec = {
    .name = "streamframer._core._ccore.FrameSteps",
    .basicsize = sizeof(StepsObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = steps_slots,
};

#endif
