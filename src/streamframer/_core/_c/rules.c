/* The built-in rules' searches, run without calling the rule objects.
 *
 * A manager reads a built-in rule's public attributes once (spec_load) and runs the search
 * here (spec_run) with the rule's exact answers. Whatever is rare or intricate to word — a
 * malformed header's error message — is left to the rule itself: spec_run returns
 * SPEC_ASK_RULE and the manager calls the rule on the same bytes, so each message is written
 * once, in the rule's Python module. A rule with options this file does not know is called
 * like any custom rule.
 */
#include "core.h"
#include <string.h>

#define SPEC_ASK_RULE 1

void
spec_clear(RuleSpec *spec)
{
    Py_CLEAR(spec->delimiter);
    Py_CLEAR(spec->magic);
    for (int i = 0; i < spec->n_any; i++) {
        Py_CLEAR(spec->any[i]);
    }
    spec->n_any = 0;
    spec->kind = KIND_CUSTOM;
}

/* rule.<name> as a Py_ssize_t; 0 if it does not fit (*ok cleared), -1 with an error set. */
static int
ssize_attr(PyObject *rule, const char *name, Py_ssize_t *out, int *ok)
{
    PyObject *value = PyObject_GetAttrString(rule, name);
    if (value == NULL) {
        return -1;
    }
    if (!PyLong_CheckExact(value)) {
        *ok = 0;
        Py_DECREF(value);
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    Py_DECREF(value);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || v > PY_SSIZE_T_MAX / 4 || v < -(PY_SSIZE_T_MAX / 4)) {
        *ok = 0; /* values this large are left to the rule, which has Python's ints */
        return 0;
    }
    *out = (Py_ssize_t)v;
    return 0;
}

/* rule.<name> is true; absent counts as false (options newer than this file are refused by
 * the callers' checks of what they know). */
static int
flag_attr(PyObject *rule, const char *name, int *out)
{
    PyObject *value;
    if (get_optional_attr(rule, name, &value) < 0) {
        return -1;
    }
    if (value == NULL) {
        *out = 0;
        return 0;
    }
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    if (truth < 0) {
        return -1;
    }
    *out = truth;
    return 0;
}

static int
load_delimited(RuleSpec *spec, PyObject *rule)
{
    PyObject *delimiter = PyObject_GetAttrString(rule, "delimiter");
    if (delimiter == NULL) {
        return -1;
    }
    if (!PyBytes_CheckExact(delimiter) || PyBytes_GET_SIZE(delimiter) == 0) {
        Py_DECREF(delimiter);
        return 0;
    }
    PyObject *strip = PyObject_GetAttrString(rule, "strip");
    if (strip == NULL) {
        Py_DECREF(delimiter);
        return -1;
    }
    int strip_byte = -1;
    if (strip != Py_None) {
        long value = PyLong_Check(strip) ? PyLong_AsLong(strip) : -1;
        if (value < 0 || value > 255) {
            Py_DECREF(strip);
            Py_DECREF(delimiter);
            if (PyErr_Occurred()) {
                return -1;
            }
            return 0;
        }
        strip_byte = (int)value;
    }
    Py_DECREF(strip);
    int keep = 0, skip_empty = 0;
    if (flag_attr(rule, "keep_delimiter", &keep) < 0
        || flag_attr(rule, "skip_empty", &skip_empty) < 0) {
        Py_DECREF(delimiter);
        return -1;
    }
    spec->delimiter = delimiter;
    spec->delim_len = PyBytes_GET_SIZE(delimiter);
    spec->strip = strip_byte;
    spec->keep_delimiter = keep;
    spec->skip_empty = skip_empty;
    spec->kind = KIND_DELIM;
    return 0;
}

static int
load_fixed(RuleSpec *spec, PyObject *rule)
{
    int ok = 1;
    if (ssize_attr(rule, "size", &spec->size, &ok) < 0) {
        return -1;
    }
    if (ok && spec->size > 0) {
        spec->kind = KIND_FIXED;
    }
    return 0;
}

static int
load_length(RuleSpec *spec, PyObject *rule)
{
    int ok = 1;
    if (ssize_attr(rule, "offset", &spec->offset, &ok) < 0
        || ssize_attr(rule, "length_size", &spec->length_size, &ok) < 0
        || ssize_attr(rule, "adjust", &spec->adjust, &ok) < 0
        || ssize_attr(rule, "payload_offset", &spec->payload_offset, &ok) < 0) {
        return -1;
    }
    if (!ok || spec->length_size < 1 || spec->length_size > 8 || spec->offset < 0
        || spec->payload_offset < 0) {
        return 0;
    }
    PyObject *order = PyObject_GetAttrString(rule, "byteorder");
    if (order == NULL) {
        return -1;
    }
    int little = PyUnicode_Check(order) && PyUnicode_CompareWithASCIIString(order, "little") == 0;
    int big = PyUnicode_Check(order) && PyUnicode_CompareWithASCIIString(order, "big") == 0;
    Py_DECREF(order);
    if (!little && !big) {
        return 0;
    }
    unsigned long long capacity = spec->length_size == 8 ? ~0ULL
                                                         : ((1ULL << (8 * spec->length_size)) - 1);
    PyObject *max_length = PyObject_GetAttrString(rule, "max_length");
    if (max_length == NULL) {
        return -1;
    }
    unsigned long long longest = capacity;
    if (max_length != Py_None) {
        longest = PyLong_Check(max_length) ? PyLong_AsUnsignedLongLong(max_length) : 0;
        if (PyErr_Occurred()) {
            PyErr_Clear();
            Py_DECREF(max_length);
            return 0;
        }
        if (longest > capacity) {
            longest = capacity;
        }
    }
    Py_DECREF(max_length);
    PyObject *magic;
    if (get_optional_attr(rule, "magic", &magic) < 0) {
        return -1;
    }
    if (magic != NULL && magic != Py_None) {
        if (!PyBytes_CheckExact(magic) || PyBytes_GET_SIZE(magic) > spec->offset) {
            Py_DECREF(magic);
            return 0;
        }
        spec->magic = magic; /* owned */
    }
    else {
        Py_XDECREF(magic);
    }
    spec->little_endian = little;
    spec->longest = longest;
    spec->field_end = spec->offset + spec->length_size;
    spec->min_total = spec->field_end > spec->payload_offset ? spec->field_end
                                                             : spec->payload_offset;
    spec->kind = KIND_LENGTH;
    return 0;
}

static int
load_any(RuleSpec *spec, PyObject *rule)
{
    int keep = 0, skip_empty = 0;
    if (flag_attr(rule, "keep_delimiter", &keep) < 0
        || flag_attr(rule, "skip_empty", &skip_empty) < 0) {
        return -1;
    }
    if (keep || skip_empty) {
        return 0; /* options left to the rule */
    }
    PyObject *delimiters = PyObject_GetAttrString(rule, "delimiters");
    if (delimiters == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(delimiters) || PyTuple_GET_SIZE(delimiters) == 0
        || PyTuple_GET_SIZE(delimiters) > MAX_ANY) {
        Py_DECREF(delimiters);
        return 0;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(delimiters);
    Py_ssize_t previous = PY_SSIZE_T_MAX;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(delimiters, i);
        /* The rule keeps them longest first: ties at one position go to the longest. */
        if (!PyBytes_CheckExact(item) || PyBytes_GET_SIZE(item) == 0
            || PyBytes_GET_SIZE(item) > previous) {
            Py_DECREF(delimiters);
            spec_clear(spec);
            return 0;
        }
        previous = PyBytes_GET_SIZE(item);
        Py_INCREF(item);
        spec->any[spec->n_any++] = item;
    }
    Py_DECREF(delimiters);
    memset(spec->first_bytes, 0, sizeof(spec->first_bytes));
    for (int i = 0; i < spec->n_any; i++) {
        spec->first_bytes[(unsigned char)PyBytes_AS_STRING(spec->any[i])[0]] = 1;
    }
    spec->any_longest = PyBytes_GET_SIZE(spec->any[0]);
    spec->kind = KIND_ANY;
    return 0;
}

/* Recognise a built-in rule and read what its search needs. Anything else (or a built-in rule
 * with options not handled here) stays KIND_CUSTOM: it is called through the rule contract. */
int
spec_load(const CoreState *state, RuleSpec *spec, PyObject *rule)
{
    spec_clear(spec);
    PyObject *type = (PyObject *)Py_TYPE(rule);
    if (type == state->DelimitedType) {
        return load_delimited(spec, rule);
    }
    if (type == state->FixedSizeType) {
        return load_fixed(spec, rule);
    }
    if (type == state->LengthPrefixedType) {
        return load_length(spec, rule);
    }
    if (type == state->UntilAnyType) {
        return load_any(spec, rule);
    }
    return 0;
}

/* The first delimiter starting in data[from:to], or -1. */
Py_ssize_t
find_delim(const RuleSpec *spec, const char *data, Py_ssize_t from, Py_ssize_t to)
{
    const char *needle = PyBytes_AS_STRING(spec->delimiter);
    Py_ssize_t length = spec->delim_len;
    if (to - from < length) {
        return -1;
    }
    if (length == 1) {
        const char *hit = memchr(data + from, (unsigned char)needle[0], (size_t)(to - from));
        return hit == NULL ? -1 : hit - data;
    }
    /* memchr for the first byte, then compare: memchr is vectorised, and delimiters are
     * short. No memmem: it is not everywhere, and this is as fast for short needles. */
    const char *last = data + to - length;
    const char *at = data + from;
    while (at <= last) {
        const char *hit = memchr(at, (unsigned char)needle[0], (size_t)(last - at + 1));
        if (hit == NULL) {
            return -1;
        }
        if (memcmp(hit + 1, needle + 1, (size_t)(length - 1)) == 0) {
            return hit - data;
        }
        at = hit + 1;
    }
    return -1;
}

static int
run_delim(const RuleSpec *spec, const char *data, Py_ssize_t size, Py_ssize_t scan,
          RuleResult *out)
{
    Py_ssize_t index = find_delim(spec, data, scan, size);
    if (index < 0) {
        out->type = RESULT_NEED;
        out->a = delim_resume(spec, 0, size);
        out->b = -1;
        return 0;
    }
    Py_ssize_t consume = index + spec->delim_len;
    Py_ssize_t end = index;
    if (spec->strip >= 0 && index > 0 && (unsigned char)data[index - 1] == spec->strip) {
        end = index - 1;
    }
    if (spec->skip_empty && end == 0) {
        out->type = RESULT_SKIP; /* nothing before the delimiter: noise, not a frame */
        out->a = consume;
        return 0;
    }
    out->type = RESULT_SPAN;
    out->a = 0;
    out->b = spec->keep_delimiter ? consume : end;
    out->c = consume;
    return 0;
}

static int
run_length(const RuleSpec *spec, const char *data, Py_ssize_t size, RuleResult *out)
{
    if (spec->magic != NULL) {
        Py_ssize_t have = PyBytes_GET_SIZE(spec->magic);
        if (have > size) {
            have = size;
        }
        if (memcmp(data, PyBytes_AS_STRING(spec->magic), (size_t)have) != 0) {
            return SPEC_ASK_RULE;
        }
    }
    if (size < spec->field_end) {
        out->type = RESULT_NEED;
        out->a = size;
        out->b = -1;
        return 0;
    }
    const unsigned char *field = (const unsigned char *)data + spec->offset;
    unsigned long long length = 0;
    if (spec->little_endian) {
        for (Py_ssize_t i = spec->length_size - 1; i >= 0; i--) {
            length = (length << 8) | field[i];
        }
    }
    else {
        for (Py_ssize_t i = 0; i < spec->length_size; i++) {
            length = (length << 8) | field[i];
        }
    }
    if (length > spec->longest || length > (unsigned long long)(PY_SSIZE_T_MAX / 2)) {
        return SPEC_ASK_RULE; /* a FramingError, or a size only Python's ints hold */
    }
    Py_ssize_t total = spec->field_end + (Py_ssize_t)length + spec->adjust;
    if (total < spec->min_total) {
        return SPEC_ASK_RULE;
    }
    if (size < total) {
        out->type = RESULT_NEED;
        out->a = size;
        out->b = total;
        return 0;
    }
    out->type = RESULT_SPAN;
    out->a = spec->payload_offset;
    out->b = total;
    out->c = total;
    return 0;
}

/* until_any, answering as UntilAny.__call__ does: the earliest complete delimiter (longest
 * first at one position) ends the frame, unless a longer one that runs past the end of the
 * bytes, starting at or before it, may still complete (then wait there); with no complete
 * delimiter at all, resume where one could still be starting. */
static int
run_any(const RuleSpec *spec, const char *data, Py_ssize_t size, Py_ssize_t scan, RuleResult *out)
{
    Py_ssize_t tail = size - spec->any_longest + 1;
    Py_ssize_t start = -1, match_end = -1;
    for (Py_ssize_t at = scan; at < size && start < 0; at++) {
        if (!spec->first_bytes[(unsigned char)data[at]]) {
            continue;
        }
        for (int i = 0; i < spec->n_any; i++) {
            Py_ssize_t length = PyBytes_GET_SIZE(spec->any[i]);
            if (length <= size - at
                && memcmp(data + at, PyBytes_AS_STRING(spec->any[i]), (size_t)length) == 0) {
                start = at;
                match_end = at + length;
                break;
            }
        }
    }
    if (start < 0) {
        out->type = RESULT_NEED;
        out->a = scan > tail ? scan : tail;
        out->b = -1;
        return 0;
    }
    for (Py_ssize_t at = scan > tail ? scan : tail; at <= start; at++) {
        Py_ssize_t left = size - at;
        for (int i = 0; i < spec->n_any; i++) {
            Py_ssize_t length = PyBytes_GET_SIZE(spec->any[i]);
            if (length <= left) {
                break; /* longest first: the rest cannot run past the end either */
            }
            if (memcmp(data + at, PyBytes_AS_STRING(spec->any[i]), (size_t)left) == 0) {
                out->type = RESULT_NEED;
                out->a = at;
                out->b = -1;
                return 0;
            }
        }
    }
    out->type = RESULT_SPAN;
    out->a = 0;
    out->b = start;
    out->c = match_end;
    return 0;
}

/* Run a built-in rule on data[0:size], resuming at scan. Returns 0 with *out set, or
 * SPEC_ASK_RULE when the rule object must answer (an error to word). */
int
spec_run(const RuleSpec *spec, const char *data, Py_ssize_t size, Py_ssize_t scan, RuleResult *out)
{
    switch (spec->kind) {
    case KIND_DELIM:
        return run_delim(spec, data, size, scan, out);
    case KIND_FIXED:
        if (size < spec->size) {
            out->type = RESULT_NEED;
            out->a = size;
            out->b = spec->size;
            return 0;
        }
        out->type = RESULT_SPAN;
        out->a = 0;
        out->b = spec->size;
        out->c = spec->size;
        return 0;
    case KIND_LENGTH:
        return run_length(spec, data, size, out);
    case KIND_ANY:
        return run_any(spec, data, size, scan, out);
    default:
        return SPEC_ASK_RULE;
    }
}
