/* The module streamframer._core._ccore: its types, and the compiled loops of the I/O adapters.
 *
 * The adapters (streamframer._io) write read_with_rule, iter_frames and iter_payloads in
 * Python, as the statement of what they do, with the I/O itself (one read, a wait) in small
 * functions of their own. compiled(kind, reference, io) gives the same loop with the framing
 * done here: per frame it never enters Python, and per read it calls the adapter's io function.
 * The core stays sans-IO: it never touches a source itself. A manager of another
 * implementation goes to the reference function.
 */
#include "core.h"

PyObject *StreamFramerError, *FrameTooLarge, *FrameDiscarded, *FramingError,
    *FrameLifecycleError, *StreamClosed;
PyObject *NeedMoreType, *FrameSpanType, *SkipType, *BrokenCondition;
PyObject *DelimitedType, *FixedSizeType, *LengthPrefixedType, *UntilAnyType;
PyObject *str_release;
static PyObject *str_recv_into;

enum { COMPILED_READER = 0, COMPILED_FRAMES = 1, COMPILED_PAYLOADS = 2 };

/* ------------------------------------------------------------------------------------------ */
/* Iterators: iter_frames and iter_payloads */

typedef struct {
    PyObject_HEAD
    PyObject *source, *rule, *io;
    Manager *mgr;
    PyObject *frame;        /* the frame last yielded, consumed when the loop asks again */
    PyObject *payloads;     /* iter_payloads: the batch being yielded */
    Py_ssize_t index;
    int done;
} IterObject;

static int
iter_traverse(IterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->source);
    Py_VISIT(self->rule);
    Py_VISIT(self->io);
    Py_VISIT(self->mgr);
    Py_VISIT(self->frame);
    Py_VISIT(self->payloads);
    return 0;
}

static int
iter_clear(IterObject *self)
{
    Py_CLEAR(self->source);
    Py_CLEAR(self->rule);
    Py_CLEAR(self->io);
    Py_CLEAR(self->mgr);
    Py_CLEAR(self->frame);
    Py_CLEAR(self->payloads);
    return 0;
}

static void
iter_dealloc(IterObject *self)
{
    PyObject_GC_UnTrack(self);
    iter_clear(self);
    PyObject_GC_Del(self);
}

/* The stream ended: quietly between frames (1: stop), or an error to raise (-1). */
static int
stream_end(void)
{
    if (!PyErr_ExceptionMatches(StreamClosed)) {
        return -1;
    }
    PyObject *exc = take_error();
    PyObject *partial = PyObject_GetAttrString(exc, "partial");
    int clean = partial != NULL && PyBytes_Check(partial) && PyBytes_GET_SIZE(partial) == 0;
    Py_XDECREF(partial);
    if (partial == NULL) {
        PyErr_Clear();
    }
    if (clean) {
        Py_DECREF(exc);
        return 1;
    }
    restore_error(exc);
    return -1;
}

/* One call of the adapter's io function: wait until the source is readable, and read. */
static int
read_more(IterObject *self)
{
    PyObject *result = PyObject_CallFunctionObjArgs(self->io, self->source, (PyObject *)self->mgr,
                                                    NULL);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static PyObject *
frames_next(IterObject *self)
{
    if (self->done) {
        return NULL;
    }
    if (self->frame != NULL) {
        FrameObject *frame = (FrameObject *)self->frame;
        if (frame_is_live(frame) && manager_consume(self->mgr, frame) < 0) {
            return NULL;
        }
        Py_CLEAR(self->frame);
    }
    for (;;) {
        PyObject *frame = manager_next_frame(self->mgr, self->rule);
        if (frame == NULL) {
            self->done = 1;
            if (stream_end() > 0) {
                iter_clear(self);
            }
            return NULL;
        }
        if (frame != Py_None) {
            self->frame = Py_NewRef(frame);
            return frame;
        }
        Py_DECREF(frame);
        if (read_more(self) < 0) {
            self->done = 1;
            return NULL;
        }
    }
}

static PyObject *
payloads_next(IterObject *self)
{
    for (;;) {
        if (self->done) {
            return NULL;
        }
        if (self->payloads != NULL) {
            if (self->index < PyList_GET_SIZE(self->payloads)) {
                return Py_NewRef(PyList_GET_ITEM(self->payloads, self->index++));
            }
            Py_CLEAR(self->payloads);
        }
        PyObject *payloads = manager_drain(self->mgr, self->rule);
        if (payloads == NULL) {
            self->done = 1;
            if (stream_end() > 0) {
                iter_clear(self);
            }
            return NULL;
        }
        if (PyList_GET_SIZE(payloads) > 0) {
            self->payloads = payloads;
            self->index = 0;
            continue;
        }
        Py_DECREF(payloads);
        if (read_more(self) < 0) {
            self->done = 1;
            return NULL;
        }
    }
}

PyTypeObject FrameIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer._core._ccore.FrameIterator",
    .tp_basicsize = sizeof(IterObject),
    .tp_dealloc = (destructor)iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Frames until the stream ends, each consumed when the loop asks for the next.",
    .tp_traverse = (traverseproc)iter_traverse,
    .tp_clear = (inquiry)iter_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)frames_next,
};

PyTypeObject PayloadIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer._core._ccore.PayloadIterator",
    .tp_basicsize = sizeof(IterObject),
    .tp_dealloc = (destructor)iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Each frame's payload as bytes until the stream ends, taken in batches.",
    .tp_traverse = (traverseproc)iter_traverse,
    .tp_clear = (inquiry)iter_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)payloads_next,
};

/* ------------------------------------------------------------------------------------------ */
/* compiled(kind, reference, io): the adapters' loops */

typedef struct {
    PyObject_HEAD
    int kind;
    PyObject *reference;    /* the adapter's Python function: the semantics, and the fallback */
    PyObject *io;           /* read once (reader) / wait and read (iterators) */
    PyObject *read_failed;  /* reader: what a failed recv_into means (NULL: always call io) */
    PyObject *dict;         /* __doc__, __name__, __wrapped__... (functools.update_wrapper) */
    vectorcallfunc vectorcall;
} CompiledObject;

/* One read through the adapter's io function: 1 if bytes came or the stream ended, 0 if a
 * non-blocking source had nothing to read, -1 on error. */
static int
call_io(CompiledObject *self, PyObject *source, Manager *mgr)
{
    PyObject *read = PyObject_CallFunctionObjArgs(self->io, source, (PyObject *)mgr, NULL);
    if (read == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(read);
    Py_DECREF(read);
    return truth;
}

/* The adapter's io function for a source with recv_into, done here: one zero-copy read, the end
 * of the stream noted, and a failed read handed to the adapter's read_failed, which says what
 * it means (False: nothing to read now) or raises. Same answers as call_io. */
static int
read_into_manager(CompiledObject *self, PyObject *source, Manager *mgr)
{
    if (mgr->eof) {
        return 1;
    }
    PyObject *recv_into;
    if (PyObject_GetOptionalAttr_compat(source, str_recv_into, &recv_into) < 0) {
        return -1;
    }
    if (recv_into == NULL) {
        return call_io(self, source, mgr);
    }
    PyObject *got;
    int status = manager_fill_count(mgr, recv_into, &got);
    Py_DECREF(recv_into);
    if (status < 0) {
        PyObject *exc = take_error();
        PyObject *answer = PyObject_CallOneArg(self->read_failed, exc);
        Py_DECREF(exc);
        if (answer == NULL) {
            return -1;
        }
        int truth = PyObject_IsTrue(answer);
        Py_DECREF(answer);
        return truth;
    }
    if (got == Py_None) {
        Py_DECREF(got);
        return 0;
    }
    int ended = PyObject_Not(got);
    Py_DECREF(got);
    if (ended < 0) {
        return -1;
    }
    if (ended) {
        mgr->eof = 1;
    }
    return 1;
}

static PyObject *
compiled_read(CompiledObject *self, PyObject *source, Manager *mgr, PyObject *rule)
{
    PyObject *frame = manager_next_frame(mgr, rule);
    if (frame != Py_None) {
        return frame;
    }
    Py_DECREF(frame);
    int received = self->read_failed != NULL ? read_into_manager(self, source, mgr)
                                             : call_io(self, source, mgr);
    if (received < 0) {
        return NULL;
    }
    if (!received) {
        Py_RETURN_NONE;   /* a non-blocking source had nothing to read */
    }
    return manager_next_frame(mgr, rule);
}

static PyObject *
compiled_iter(CompiledObject *self, PyObject *source, Manager *mgr, PyObject *rule)
{
    PyTypeObject *type = self->kind == COMPILED_FRAMES ? &FrameIterType : &PayloadIterType;
    IterObject *iter = PyObject_GC_New(IterObject, type);
    if (iter == NULL) {
        return NULL;
    }
    iter->source = Py_NewRef(source);
    iter->rule = Py_NewRef(rule);
    iter->io = Py_NewRef(self->io);
    iter->mgr = (Manager *)Py_NewRef(mgr);
    iter->frame = NULL;
    iter->payloads = NULL;
    iter->index = 0;
    iter->done = 0;
    PyObject_GC_Track(iter);
    return (PyObject *)iter;
}

static PyObject *
compiled_vectorcall(CompiledObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0)
        || Py_TYPE(args[1]) != &ManagerType) {
        /* Keywords, a wrong call, another core's manager, or a subclass (whose overrides the
         * reference calls): the reference decides. */
        return PyObject_Vectorcall(self->reference, args, nargsf, kwnames);
    }
    Manager *mgr = (Manager *)args[1];
    if (self->kind == COMPILED_READER) {
        return compiled_read(self, args[0], mgr, args[2]);
    }
    return compiled_iter(self, args[0], mgr, args[2]);
}

static PyObject *
compiled_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"kind", "reference", "io", "read_failed", NULL};
    int kind;
    PyObject *reference, *io, *read_failed = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOO|O:compiled", keywords, &kind,
                                     &reference, &io, &read_failed)) {
        return NULL;
    }
    if (kind < COMPILED_READER || kind > COMPILED_PAYLOADS) {
        PyErr_Format(PyExc_ValueError, "kind must be 0, 1 or 2, got %d", kind);
        return NULL;
    }
    CompiledObject *self = (CompiledObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->kind = kind;
    self->reference = Py_NewRef(reference);
    self->io = Py_NewRef(io);
    self->read_failed = read_failed == Py_None ? NULL : Py_NewRef(read_failed);
    self->vectorcall = (vectorcallfunc)compiled_vectorcall;
    return (PyObject *)self;
}

static int
compiled_traverse(CompiledObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->reference);
    Py_VISIT(self->io);
    Py_VISIT(self->read_failed);
    Py_VISIT(self->dict);
    return 0;
}

static int
compiled_clear(CompiledObject *self)
{
    Py_CLEAR(self->reference);
    Py_CLEAR(self->io);
    Py_CLEAR(self->read_failed);
    Py_CLEAR(self->dict);
    return 0;
}

static void
compiled_dealloc(CompiledObject *self)
{
    PyObject_GC_UnTrack(self);
    compiled_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
compiled_get_reference(CompiledObject *self, void *closure)
{
    return Py_NewRef(self->reference);
}

static PyObject *
compiled_repr(CompiledObject *self)
{
    return PyUnicode_FromFormat("<compiled %R>", self->reference);
}

static PyGetSetDef compiled_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {"reference", (getter)compiled_get_reference, NULL, "The Python function this runs.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "streamframer._core._ccore.compiled",
    .tp_basicsize = sizeof(CompiledObject),
    .tp_dealloc = (destructor)compiled_dealloc,
    .tp_vectorcall_offset = offsetof(CompiledObject, vectorcall),
    .tp_repr = (reprfunc)compiled_repr,
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc =
        "compiled(kind, reference, io, read_failed=None)\n--\n\n"
        "The compiled loop of an adapter function: 0 read_with_rule (io reads once and says\n"
        "whether anything came; with read_failed, a source's recv_into is read here and a\n"
        "failed read handed to read_failed), 1 iter_frames, 2 iter_payloads (io waits and\n"
        "reads).",
    .tp_traverse = (traverseproc)compiled_traverse,
    .tp_clear = (inquiry)compiled_clear,
    .tp_getset = compiled_getset,
    .tp_dictoffset = offsetof(CompiledObject, dict),
    .tp_new = compiled_new,
};

/* ------------------------------------------------------------------------------------------ */
/* The module */

static PyObject *
import_from(const char *module, const char *name)
{
    PyObject *mod = PyImport_ImportModule(module);
    if (mod == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return value;
}

static int
load(PyObject **slot, const char *module, const char *name)
{
    PyObject *value = import_from(module, name);
    if (value == NULL) {
        return -1;
    }
    Py_XSETREF(*slot, value);
    return 0;
}

/* The trusted readers (storage.c): socket.recv_into, found through a socket object that was
 * never opened. Without _socket, none. */
static int
load_trusted_readers(void)
{
    PyObject *type = import_from("_socket", "socket");
    if (type == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *sock = PyObject_CallMethod(type, "__new__", "O", type);
    Py_DECREF(type);
    if (sock == NULL) {
        return -1;
    }
    PyObject *recv_into = PyObject_GetAttrString(sock, "recv_into");
    Py_DECREF(sock);
    if (recv_into == NULL) {
        return -1;
    }
    if (PyCFunction_Check(recv_into)) {
        trusted_readers[0] = PyCFunction_GET_FUNCTION(recv_into);
    }
    Py_DECREF(recv_into);
    return 0;
}

static int
add_type(PyObject *module, const char *name, PyTypeObject *type)
{
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static int
ccore_exec(PyObject *module)
{
    str_release = PyUnicode_InternFromString("release");
    str_recv_into = PyUnicode_InternFromString("recv_into");
    if (str_release == NULL || str_recv_into == NULL) {
        return -1;
    }
    static const char errors[] = "streamframer._errors";
    static const char rules[] = "streamframer._rules";
    if (load(&StreamFramerError, errors, "StreamFramerError") < 0
        || load(&FrameTooLarge, errors, "FrameTooLarge") < 0
        || load(&FrameDiscarded, errors, "FrameDiscarded") < 0
        || load(&FramingError, errors, "FramingError") < 0
        || load(&FrameLifecycleError, errors, "FrameLifecycleError") < 0
        || load(&StreamClosed, errors, "StreamClosed") < 0
        || load(&NeedMoreType, rules, "NeedMore") < 0
        || load(&FrameSpanType, rules, "FrameSpan") < 0
        || load(&SkipType, rules, "Skip") < 0
        || load(&BrokenCondition, rules, "broken_condition") < 0
        || load(&DelimitedType, rules, "Delimited") < 0
        || load(&FixedSizeType, rules, "FixedSize") < 0
        || load(&LengthPrefixedType, rules, "LengthPrefixed") < 0
        || load(&UntilAnyType, rules, "UntilAny") < 0 || load_trusted_readers() < 0) {
        return -1;
    }
    PyTypeObject *types[] = {&ManagerType, &FrameType, &SpanType, &ReaderType, &FrameIterType,
                             &PayloadIterType};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (PyType_Ready(types[i]) < 0) {
            return -1;
        }
    }
    if (add_type(module, "BufferManager", &ManagerType) < 0
        || add_type(module, "Frame", &FrameType) < 0
        || add_type(module, "compiled", &ReaderType) < 0) {
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot ccore_slots[] = {
    {Py_mod_exec, ccore_exec},
#ifdef Py_mod_multiple_interpreters
    /* The types are static and the imported classes global: one interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* A manager's state is not guarded by locks of its own: keep the GIL on free-threaded
     * builds. (Two threads using one manager are refused by its busy flag either way.) */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static void
ccore_free(void *module)
{
    frame_free_cache();
}

static struct PyModuleDef ccore_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "streamframer._core._ccore",
    .m_doc = "The compiled core of streamframer: BufferManager and Frame in C.",
    .m_size = 0,
    .m_slots = ccore_slots,
    .m_free = ccore_free,
};

PyMODINIT_FUNC
PyInit__ccore(void)
{
    return PyModuleDef_Init(&ccore_module);
}
