# cython: language_level=3, boundscheck=False, wraparound=False
"""C-speed reading of a CEB entity's leaf values (optional accelerator of cbec.messages.extract).

Walking the children of a head or line element from Python creates a proxy object, a tag string and a text
string per leaf; that costs about as much as libxml2's whole parse.  Here the libxml2 nodes behind an lxml
element are read directly (through lxml's public C API): only the values become Python objects.  The
behaviour is the same as the pure-Python walk, which stays as the fallback and the reference in the tests.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport strlen
from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Element, import_lxml__etree

import_lxml__etree()


cdef object _text(tree.xmlNode* node, bint* nested):
    """Concatenated text and CDATA children of ``node``; flags element children."""
    cdef tree.xmlNode* t = node.children
    cdef object out = None
    cdef const char* s
    while t is not NULL:
        if t.type == tree.XML_TEXT_NODE or t.type == tree.XML_CDATA_SECTION_NODE:
            s = <const char*> t.content
            if s is not NULL:
                piece = PyUnicode_DecodeUTF8(s, strlen(s), "strict")
                out = piece if out is None else out + piece
        elif t.type == tree.XML_ELEMENT_NODE:
            nested[0] = True
        t = t.next
    return out


def leaves(_Element el, dict names, Py_ssize_t n):
    """Read the leaf children of ``el`` into a row of ``n`` values.

    ``names`` maps the local name (bytes) to the column.  Returns ``(row, events)``: events is None when
    nothing was unusual, else a list of ``(kind, name, index)`` with kind in unknown, duplicate, nested, order.
    """
    cdef tree.xmlNode* c = el._c_node.children
    cdef Py_ssize_t last = -1
    cdef Py_ssize_t i
    cdef bint nested
    row = [None] * n
    events = None
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            key = <bytes> c.name
            idx = names.get(key)
            if idx is None:
                if events is None:
                    events = []
                events.append(("unknown", key, -1))
            else:
                i = idx
                if row[i] is not None:
                    if events is None:
                        events = []
                    events.append(("duplicate", key, i))
                else:
                    nested = False
                    value = _text(c, &nested)
                    if nested:
                        if events is None:
                            events = []
                        events.append(("nested", key, i))
                    else:
                        row[i] = value
                        if i < last:
                            if events is None:
                                events = []
                            events.append(("order", key, i))
                        last = i
        c = c.next
    return row, events
