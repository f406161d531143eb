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
#include <string.h>

enum { COMPILED_READER = 0, COMPILED_FRAMES = 1, COMPILED_PAYLOADS = 2, COMPILED_STEPS = 3 };

/* ------------------------------------------------------------------------------------------ */
/* Iterators: iter_frames and iter_payloads */

typedef struct {
    PyObject_HEAD
    PyObject *source, *rule, *io;
    Manager *mgr;
    PyObject *frame;    /* the frame last yielded, consumed when the loop asks again */
    PyObject *payloads; /* iter_payloads: the batch being yielded */
    Py_ssize_t index;
    int done;
} IterObject;

static int
iter_traverse(IterObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
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
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    iter_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

/* The stream ended: quietly between frames (1: stop), or an error to raise (-1). */
static int
stream_end(CoreState *state)
{
    if (!PyErr_ExceptionMatches(state->StreamClosed)) {
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
            if (stream_end(self->mgr->state) > 0) {
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
            if (stream_end(self->mgr->state) > 0) {
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

static PyType_Slot frame_iter_slots[] = {
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_doc, "Frames until the stream ends, each consumed when the loop asks for the next."},
    {Py_tp_traverse, iter_traverse},
    {Py_tp_clear, iter_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, frames_next},
    {Py_tp_new, refuse_new},
    {0, NULL},
};

PyType_Spec frame_iter_spec = {
    .name = "streamframer._core._ccore.FrameIterator",
    .basicsize = sizeof(IterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = frame_iter_slots,
};

static PyType_Slot payload_iter_slots[] = {
    {Py_tp_dealloc, iter_dealloc},
    {Py_tp_doc, "Each frame's payload as bytes until the stream ends, taken in batches."},
    {Py_tp_traverse, iter_traverse},
    {Py_tp_clear, iter_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, payloads_next},
    {Py_tp_new, refuse_new},
    {0, NULL},
};

PyType_Spec payload_iter_spec = {
    .name = "streamframer._core._ccore.PayloadIterator",
    .basicsize = sizeof(IterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = payload_iter_slots,
};

/* ------------------------------------------------------------------------------------------ */
/* compiled(kind, reference, io): the adapters' loops */

typedef struct {
    PyObject_HEAD
    CoreState *state;
    int kind;
    PyObject *reference;   /* the adapter's Python function: the semantics, and the fallback */
    PyObject *io;          /* read once (reader) / wait and read (iterators) */
    PyObject *read_failed; /* reader: what a failed recv_into means (NULL: always call io) */
    PyObject *dict;        /* __doc__, __name__, __wrapped__... (functools.update_wrapper) */
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
    if (PyObject_GetOptionalAttr_compat(source, self->state->str_recv_into, &recv_into) < 0) {
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
        Py_RETURN_NONE; /* a non-blocking source had nothing to read */
    }
    return manager_next_frame(mgr, rule);
}

static PyObject *
compiled_iter(CompiledObject *self, PyObject *source, Manager *mgr, PyObject *rule)
{
    PyTypeObject *type = self->kind == COMPILED_FRAMES ? self->state->FrameIterType
                                                       : self->state->PayloadIterType;
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
        || Py_TYPE(args[1]) != self->state->ManagerType) {
        /* Keywords, a wrong call, another core's manager, or a subclass (whose overrides the
         * reference calls): the reference decides. */
        return PyObject_Vectorcall(self->reference, args, nargsf, kwnames);
    }
    Manager *mgr = (Manager *)args[1];
    if (self->kind == COMPILED_READER) {
        return compiled_read(self, args[0], mgr, args[2]);
    }
    if (self->kind == COMPILED_STEPS) {
#if PY_VERSION_HEX >= 0x030A0000
        return steps_new(self->state, self->io, args[0], mgr, args[2]);
#else
        return PyObject_Vectorcall(self->reference, args, nargsf, kwnames);
#endif
    }
    return compiled_iter(self, args[0], mgr, args[2]);
}

static PyObject *
compiled_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"kind", "reference", "io", "read_failed", NULL};
    int kind;
    PyObject *reference, *io, *read_failed = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOO|O:compiled", keywords, &kind, &reference,
                                     &io, &read_failed)) {
        return NULL;
    }
    if (kind < COMPILED_READER || kind > COMPILED_STEPS) {
        PyErr_Format(PyExc_ValueError, "kind must be 0, 1, 2 or 3, got %d", kind);
        return NULL;
    }
    CoreState *state = state_of_type(type);
    if (state == NULL) {
        return NULL;
    }
    CompiledObject *self = (CompiledObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->state = state;
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
    Py_VISIT(Py_TYPE(self));
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
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    compiled_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
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

static PyMemberDef compiled_members[] = {
    {"__vectorcalloffset__", Py_T_PYSSIZET, offsetof(CompiledObject, vectorcall), Py_READONLY,
     NULL},
    {"__dictoffset__", Py_T_PYSSIZET, offsetof(CompiledObject, dict), Py_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot compiled_slots[] = {
    {Py_tp_dealloc, compiled_dealloc},
    {Py_tp_repr, compiled_repr},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_doc,
     "compiled(kind, reference, io, read_failed=None)\n--\n\n"
     "The compiled loop of an adapter function: 0 read_with_rule (io reads once and says\n"
     "whether anything came; with read_failed, a source's recv_into is read here and a\n"
     "failed read handed to read_failed), 1 iter_frames, 2 iter_payloads (io waits and\n"
     "reads), 3 the async for steps of the asyncio reader, called as (reader, mgr,\n"
     "protocol) (io is the wait(reader) coroutine function of a step that waits)."},
    {Py_tp_traverse, compiled_traverse},
    {Py_tp_clear, compiled_clear},
    {Py_tp_members, compiled_members},
    {Py_tp_getset, compiled_getset},
    {Py_tp_new, compiled_new},
    {0, NULL},
};

PyType_Spec compiled_spec = {
    .name = "streamframer._core._ccore.compiled",
    .basicsize = sizeof(CompiledObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = compiled_slots,
};

/* ------------------------------------------------------------------------------------------ */
/* The module: its state, one per module object (so one per interpreter) */

static struct PyModuleDef ccore_module;

/* The state of the module that made type or one of its bases (a subclass of BufferManager
 * written in Python has no module of its own), or NULL with TypeError set. Called when a
 * manager or a compiled loop is made, never per frame. */
CoreState *
state_of_type(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *module = PyType_GetModuleByDef(type, &ccore_module);
#else
    /* PyType_GetModuleByDef is 3.11+: the same walk along the MRO. */
    PyObject *module = NULL;
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro != NULL && module == NULL && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!PyType_HasFeature(base, Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        PyObject *candidate = PyType_GetModule(base);
        if (candidate == NULL) {
            PyErr_Clear(); /* a type from a class statement: no module */
        }
        else if (PyModule_GetDef(candidate) == &ccore_module) {
            module = candidate;
        }
    }
    if (module == NULL) {
        PyErr_Format(PyExc_TypeError, "'%s' is not a type of streamframer's compiled core",
                     type->tp_name);
    }
#endif
    return module == NULL ? NULL : (CoreState *)PyModule_GetState(module);
}

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

/* The C function behind a method of a CPython I/O type (a trusted reader, reads.c), found
 * through an instance that was never opened (type.__new__(type)); NULL if the module is
 * absent. */
static int
load_reader(PyCFunction *out, const char *module, const char *type_name, const char *method)
{
    *out = NULL;
    PyObject *type = import_from(module, type_name);
    if (type == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *instance = PyObject_CallMethod(type, "__new__", "O", type);
    Py_DECREF(type);
    if (instance == NULL) {
        return -1;
    }
    PyObject *bound = PyObject_GetAttrString(instance, method);
    Py_DECREF(instance);
    if (bound == NULL) {
        return -1;
    }
    if (PyCFunction_Check(bound)) {
        *out = PyCFunction_GET_FUNCTION(bound);
    }
    Py_DECREF(bound);
    return 0;
}

/* The readers given the reusable exporter: each takes the buffer with "w*" (a Py_buffer
 * released before it returns) and runs no Python code with it (a signal handler may run while
 * it waits, but the manager is busy then and nothing reaches the exporter). Not
 * BufferedReader.readinto: it hands a view of the buffer on to its raw stream, which may be
 * Python code. */
static int
load_trusted_readers(CoreState *state)
{
    PyCFunction *readers = state->trusted_readers;
    if (load_reader(&readers[0], "_socket", "socket", "recv_into") < 0
        || load_reader(&readers[1], "_io", "FileIO", "readinto") < 0
        || load_reader(&readers[2], "_io", "BytesIO", "readinto") < 0) {
        return -1;
    }
    return 0;
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

/* Before 3.11, PyType_FromSpec keeps the type's doc without its signature, and inspect finds
 * none for the class: put the whole doc back (a heap type owns its tp_doc, from PyObject_Malloc).
 */
static int
keep_signature(PyTypeObject *type, const PyType_Spec *spec)
{
#if PY_VERSION_HEX < 0x030B0000
    for (const PyType_Slot *slot = spec->slots; slot->slot != 0; slot++) {
        const char *doc = slot->pfunc;
        if (slot->slot == Py_tp_doc && doc != NULL && strstr(doc, "\n--\n\n") != NULL) {
            size_t size = strlen(doc) + 1;
            char *copy = PyObject_Malloc(size);
            if (copy == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            memcpy(copy, doc, size);
            PyObject_Free((void *)type->tp_doc);
            type->tp_doc = copy;
        }
    }
#endif
    return 0;
}

/* A type of this module from its spec, kept in the state, and under name in the module when
 * name is not NULL. */
static int
add_type(PyObject *module, PyTypeObject **slot, PyType_Spec *spec, const char *name)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return -1;
    }
    Py_XSETREF(*slot, (PyTypeObject *)type);
    if (keep_signature(*slot, spec) < 0) {
        return -1;
    }
    if (name == NULL) {
        return 0;
    }
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static int
ccore_exec(PyObject *module)
{
    CoreState *state = PyModule_GetState(module);
    state->str_release = PyUnicode_InternFromString("release");
    state->str_recv_into = PyUnicode_InternFromString("recv_into");
    state->str_rule = PyUnicode_InternFromString("rule");
    state->str_paused = PyUnicode_InternFromString("_paused");
    state->str_read_ahead = PyUnicode_InternFromString("_read_ahead");
    state->str_resume = PyUnicode_InternFromString("_resume");
    state->str_yielded = PyUnicode_InternFromString("_yielded");
    state->str_consume_yielded = PyUnicode_InternFromString("_consume_yielded");
    state->str_partial = PyUnicode_InternFromString("partial");
    if (state->str_release == NULL || state->str_recv_into == NULL || state->str_rule == NULL
        || state->str_paused == NULL || state->str_read_ahead == NULL || state->str_resume == NULL
        || state->str_yielded == NULL || state->str_consume_yielded == NULL
        || state->str_partial == NULL) {
        return -1;
    }
    static const char errors[] = "streamframer._errors";
    static const char rules[] = "streamframer._rules";
    if (load(&state->StreamFramerError, errors, "StreamFramerError") < 0
        || load(&state->FrameTooLarge, errors, "FrameTooLarge") < 0
        || load(&state->FrameDiscarded, errors, "FrameDiscarded") < 0
        || load(&state->FramingError, errors, "FramingError") < 0
        || load(&state->FrameLifecycleError, errors, "FrameLifecycleError") < 0
        || load(&state->StreamClosed, errors, "StreamClosed") < 0
        || load(&state->NeedMoreType, rules, "NeedMore") < 0
        || load(&state->FrameSpanType, rules, "FrameSpan") < 0
        || load(&state->SkipType, rules, "Skip") < 0
        || load(&state->BrokenCondition, rules, "broken_condition") < 0
        || load(&state->DelimitedType, rules, "Delimited") < 0
        || load(&state->FixedSizeType, rules, "FixedSize") < 0
        || load(&state->LengthPrefixedType, rules, "LengthPrefixed") < 0
        || load(&state->UntilAnyType, rules, "UntilAny") < 0 || load_trusted_readers(state) < 0) {
        return -1;
    }
    if (add_type(module, &state->ManagerType, &manager_spec, "BufferManager") < 0
        || add_type(module, &state->FrameType, &frame_spec, "Frame") < 0
        || add_type(module, &state->SpanType, &span_spec, NULL) < 0
        || add_type(module, &state->ReaderType, &compiled_spec, "compiled") < 0
        || add_type(module, &state->FrameIterType, &frame_iter_spec, NULL) < 0
        || add_type(module, &state->PayloadIterType, &payload_iter_spec, NULL) < 0) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030A0000
    if (add_type(module, &state->StepsType, &steps_spec, NULL) < 0) {
        return -1;
    }
#endif
    return 0;
}

/* Every object the state holds, for the collector (the module's types refer back to it). */
#define STATE_OBJECTS(apply, state)                                                               \
    apply(state->StreamFramerError);                                                              \
    apply(state->FrameTooLarge);                                                                  \
    apply(state->FrameDiscarded);                                                                 \
    apply(state->FramingError);                                                                   \
    apply(state->FrameLifecycleError);                                                            \
    apply(state->StreamClosed);                                                                   \
    apply(state->NeedMoreType);                                                                   \
    apply(state->FrameSpanType);                                                                  \
    apply(state->SkipType);                                                                       \
    apply(state->BrokenCondition);                                                                \
    apply(state->DelimitedType);                                                                  \
    apply(state->FixedSizeType);                                                                  \
    apply(state->LengthPrefixedType);                                                             \
    apply(state->UntilAnyType);                                                                   \
    apply(state->ManagerType);                                                                    \
    apply(state->FrameType);                                                                      \
    apply(state->SpanType);                                                                       \
    apply(state->ReaderType);                                                                     \
    apply(state->FrameIterType);                                                                  \
    apply(state->PayloadIterType);                                                                \
    apply(state->StepsType);                                                                      \
    apply(state->str_release);                                                                    \
    apply(state->str_recv_into);                                                                  \
    apply(state->str_rule);                                                                       \
    apply(state->str_paused);                                                                     \
    apply(state->str_read_ahead);                                                                 \
    apply(state->str_resume);                                                                     \
    apply(state->str_yielded);                                                                    \
    apply(state->str_consume_yielded);                                                            \
    apply(state->str_partial)

static int
ccore_traverse(PyObject *module, visitproc visit, void *arg)
{
    CoreState *state = PyModule_GetState(module);
    if (state != NULL) {
        STATE_OBJECTS(Py_VISIT, state);
    }
    return 0;
}

static int
ccore_clear(PyObject *module)
{
    CoreState *state = PyModule_GetState(module);
    if (state != NULL) {
        STATE_OBJECTS(Py_CLEAR, state);
    }
    return 0;
}

static void
ccore_free(void *module)
{
    ccore_clear((PyObject *)module);
}

static PyModuleDef_Slot ccore_slots[] = {
    {Py_mod_exec, ccore_exec},
#ifdef Py_mod_multiple_interpreters
    /* Everything mutable lives in the module's state or in the objects: each interpreter has
     * its own, and nothing is shared between interpreters, whatever their GIL. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* A manager's state is not guarded by locks of its own: keep the GIL on free-threaded
     * builds (what they would need is written in core.h). */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef ccore_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "streamframer._core._ccore",
    .m_doc = "The compiled core of streamframer: BufferManager and Frame in C.",
    .m_size = sizeof(CoreState),
    .m_slots = ccore_slots,
    .m_traverse = ccore_traverse,
    .m_clear = ccore_clear,
    .m_free = ccore_free,
};

PyMODINIT_FUNC
PyInit__ccore(void)
{
    return PyModuleDef_Init(&ccore_module);
}
