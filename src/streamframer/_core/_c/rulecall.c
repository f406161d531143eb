/* Running a rule: a built-in one searched here (rules.c), any other called on the bytearray
 * under the contract, its answer converted and checked before anything changes (safety rule
 * 3 in core.h). Calls down: storage.c (trim, pin) and rules.c.
 */
#include "core.h"

/* A custom rule broke the contract: ValueError naming the result and the broken condition
 * (worded once, by the rule contract's broken_condition). */
static int
bad_result(Manager *m, PyObject *rule, PyObject *result, Py_ssize_t buffered)
{
    PyObject *condition = PyObject_CallFunction(m->state->BrokenCondition, "On", result, buffered);
    if (condition == NULL) {
        return -1;
    }
    PyErr_Format(PyExc_ValueError, "%R returned %R for a buffer of %zd bytes: %S", rule, result,
                 buffered, condition);
    Py_DECREF(condition);
    return -1;
}

/* value as a Py_ssize_t, clamped: a position beyond it is out of range anyway, and worded as
 * the pure core words it (bad_result). */
static int
index_of(PyObject *value, Py_ssize_t *out)
{
    *out = PyNumber_AsSsize_t(value, NULL);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Whether result, a NeedMore, FrameSpan or Skip, has its fields (one made by tuple.__new__ may
 * not); a TypeError naming it if not (its repr would fail: it is not called). */
static int
has_fields(PyObject *rule, PyObject *result, Py_ssize_t fields)
{
    Py_ssize_t size = PyTuple_GET_SIZE(result);
    if (size == fields) {
        return 1;
    }
    PyErr_Format(PyExc_TypeError, "%R returned a malformed %s: %zd fields instead of %zd", rule,
                 Py_TYPE(result)->tp_name, size, fields);
    return 0;
}

/* Convert and check what a rule object returned, for a buffer of `buffered` bytes. Nothing
 * changes here: its fields' __index__ runs under the busy mark (safety rule 3). */
static int
read_result(Manager *m, PyObject *rule, PyObject *result, Py_ssize_t buffered, RuleResult *out,
            PyObject **huge)
{
    PyTypeObject *type = Py_TYPE(result);
    Py_ssize_t fields = (PyObject *)type == m->state->SkipType        ? 1
                        : (PyObject *)type == m->state->FrameSpanType ? 3
                        : (PyObject *)type == m->state->NeedMoreType  ? 2
                                                                      : 0;
    if (fields && !has_fields(rule, result, fields)) {
        return -1;
    }
    if ((PyObject *)type == m->state->SkipType) {
        out->type = RESULT_SKIP;
        return index_of(PyTuple_GET_ITEM(result, 0), &out->a);
    }
    if ((PyObject *)type == m->state->FrameSpanType) {
        out->type = RESULT_SPAN;
        if (index_of(PyTuple_GET_ITEM(result, 0), &out->a) < 0
            || index_of(PyTuple_GET_ITEM(result, 1), &out->b) < 0
            || index_of(PyTuple_GET_ITEM(result, 2), &out->c) < 0) {
            return -1;
        }
        if (!(0 <= out->a && out->a <= out->b && out->b <= out->c && out->c <= buffered)
            || out->c == 0) {
            return bad_result(m, rule, result, buffered);
        }
        return 0;
    }
    if ((PyObject *)type == m->state->NeedMoreType) {
        out->type = RESULT_NEED;
        if (index_of(PyTuple_GET_ITEM(result, 0), &out->a) < 0) {
            return -1;
        }
        if (!(0 <= out->a && out->a <= buffered)) {
            return bad_result(m, rule, result, buffered);
        }
        PyObject *size = PyTuple_GET_ITEM(result, 1);
        out->b = -1;
        if (size != Py_None) {
            Py_ssize_t value = PyNumber_AsSsize_t(size, NULL); /* clamps */
            if (value == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (value == PY_SSIZE_T_MAX && huge != NULL) {
                *huge = PyNumber_Index(size); /* an int, as the pure core converts it */
                if (*huge == NULL) {
                    return -1;
                }
            }
            out->b = value < 0 ? -1 : value;
        }
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a rule must return NeedMore, FrameSpan or Skip, %R returned %R",
                 rule, result);
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
        /* The rule gets the bytearray itself: pinned from now on (safety rule 5). */
        if (trim(m) < 0 || pin(m) < 0) {
            return -1;
        }
        buffer = Py_NewRef(m->buf);
    }
    Py_ssize_t buffered = m->tail - m->head;
    PyObject *result = PyObject_CallFunction(rule, "On", buffer, m->scan - m->head);
    Py_DECREF(buffer);
    if (result == NULL) {
        return -1;
    }
    int status = read_result(m, rule, result, buffered, out, huge);
    if (status == 0 && out->type == RESULT_SKIP && !(0 < out->a && out->a <= buffered)) {
        status = bad_result(m, rule, result, buffered);
    }
    Py_DECREF(result);
    return status;
}

/* The rule's answer for the unconsumed bytes, positions relative to head. */
int
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
        return call_rule(m, rule, 1, out, huge); /* the rule words its own error */
    }
    return call_rule(m, rule, 0, out, huge);
}

/* A rule new to this manager (or after a state that cleared it): load its search, and start
 * scanning afresh if it differs from the rule the scan position belongs to, asked as the pure
 * core asks it (rule != previous, None at first: the rule's __ne__/__eq__ runs, under the
 * busy mark). */
int
adopt_rule(Manager *m, PyObject *rule)
{
    PyObject *previous = Py_NewRef(m->scan_rule != NULL ? m->scan_rule : Py_None);
    PyObject *answer = PyObject_RichCompare(rule, previous, Py_NE);
    Py_DECREF(previous);
    int differs = answer == NULL ? -1 : PyObject_IsTrue(answer);
    Py_XDECREF(answer);
    if (differs < 0) {
        return -1;
    }
    if (differs) {
        m->scan = m->head;
        m->want = 0;
    }
    Py_INCREF(rule);
    Py_XSETREF(m->scan_rule, rule);
    if (spec_load(m->state, &m->spec, rule) < 0) {
        return -1;
    }
    Py_INCREF(rule);
    Py_XSETREF(m->rule, rule);
    return 0;
}
