# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C-speed structural walk of CEB messages into Arrow string columns (optional accelerator).

Walking a parsed message from Python creates a proxy object, a tag string and a text string per leaf, then
Polars converts every Python string again: together that costs more than libxml2's whole parse.  Here the
libxml2 nodes behind an lxml element are read directly (through lxml's public C API) and the UTF-8 bytes of
each value are copied straight into Arrow string buffers, one per column: no Python object per value at all.
The pure-Python walk in ``extract.py`` stays as the fallback and as the reference the tests compare with.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset, strcmp, strlen
from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Element, import_lxml__etree

import_lxml__etree()


cdef struct Column:
    char* data
    int64_t size
    int64_t capacity
    int64_t* offsets   # rows + 1
    uint8_t* valid     # one byte per row; packed into a bitmap on export


cdef class ColumnSink:
    """Growing Arrow ``large_string`` columns for one entity (a head or a line kind)."""

    cdef Column* cols
    cdef public Py_ssize_t ncols
    cdef public Py_ssize_t nrows
    cdef Py_ssize_t row_capacity
    # scratch for the row being read: pointer/length per column; ``keep`` holds joined values alive
    cdef const char** ptr
    cdef Py_ssize_t* length
    cdef list keep
    # the field names, in column order, as C strings (kept alive by ``names``)
    cdef const char** cnames
    cdef list names

    def __cinit__(self, list names):
        cdef Py_ssize_t i
        cdef Py_ssize_t ncols = len(names)
        self.names = [n if isinstance(n, bytes) else n.encode() for n in names]
        self.cnames = <const char**> malloc(sizeof(char*) * (ncols if ncols else 1))
        if self.cnames is NULL:
            raise MemoryError()
        for i in range(ncols):
            self.cnames[i] = <const char*> self.names[i]
        self.ncols = ncols
        self.nrows = 0
        self.row_capacity = 1024
        self.cols = <Column*> malloc(sizeof(Column) * (ncols if ncols else 1))
        self.ptr = <const char**> malloc(sizeof(char*) * (ncols if ncols else 1))
        self.length = <Py_ssize_t*> malloc(sizeof(Py_ssize_t) * (ncols if ncols else 1))
        if self.cols is NULL or self.ptr is NULL or self.length is NULL:
            raise MemoryError()
        for i in range(ncols):
            self.cols[i].capacity = 4096
            self.cols[i].size = 0
            self.cols[i].data = <char*> malloc(4096)
            self.cols[i].offsets = <int64_t*> malloc(sizeof(int64_t) * (self.row_capacity + 1))
            self.cols[i].valid = <uint8_t*> malloc(self.row_capacity)
            if self.cols[i].data is NULL or self.cols[i].offsets is NULL or self.cols[i].valid is NULL:
                raise MemoryError()
            self.cols[i].offsets[0] = 0
        self.keep = []

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.cols is not NULL:
            for i in range(self.ncols):
                free(self.cols[i].data)
                free(self.cols[i].offsets)
                free(self.cols[i].valid)
            free(self.cols)
        free(self.ptr)
        free(self.length)
        free(self.cnames)

    cdef void _grow_rows(self) except *:
        cdef Py_ssize_t i
        cdef Py_ssize_t cap = self.row_capacity * 2
        for i in range(self.ncols):
            self.cols[i].offsets = <int64_t*> realloc(self.cols[i].offsets, sizeof(int64_t) * (cap + 1))
            self.cols[i].valid = <uint8_t*> realloc(self.cols[i].valid, cap)
            if self.cols[i].offsets is NULL or self.cols[i].valid is NULL:
                raise MemoryError()
        self.row_capacity = cap

    cdef void _begin(self):
        memset(self.ptr, 0, sizeof(char*) * self.ncols)
        memset(self.length, 0, sizeof(Py_ssize_t) * self.ncols)

    cdef void _commit(self) except *:
        cdef Py_ssize_t i
        cdef Column* col
        cdef int64_t need
        if self.nrows >= self.row_capacity:
            self._grow_rows()
        for i in range(self.ncols):
            col = &self.cols[i]
            if self.ptr[i] is NULL:
                col.valid[self.nrows] = 0
            else:
                need = col.size + self.length[i]
                if need > col.capacity:
                    while need > col.capacity:
                        col.capacity *= 2
                    col.data = <char*> realloc(col.data, col.capacity)
                    if col.data is NULL:
                        raise MemoryError()
                memcpy(col.data + col.size, self.ptr[i], self.length[i])
                col.size = need
                col.valid[self.nrows] = 1
            col.offsets[self.nrows + 1] = col.size
        self.nrows += 1
        self.keep.clear()

    def export(self):
        """[(offsets, data, validity bitmap, null count)] per column, as bytes (copies)."""
        cdef Py_ssize_t i, r, nulls
        cdef Column* col
        cdef Py_ssize_t nbytes = (self.nrows + 7) // 8
        cdef uint8_t* bitmap
        out = []
        for i in range(self.ncols):
            col = &self.cols[i]
            bitmap = <uint8_t*> malloc(nbytes if nbytes else 1)
            if bitmap is NULL:
                raise MemoryError()
            memset(bitmap, 0, nbytes if nbytes else 1)
            nulls = 0
            for r in range(self.nrows):
                if col.valid[r]:
                    bitmap[r >> 3] |= <uint8_t> (1 << (r & 7))
                else:
                    nulls += 1
            try:
                out.append((
                    PyBytes_FromStringAndSize(<char*> col.offsets, sizeof(int64_t) * (self.nrows + 1)),
                    PyBytes_FromStringAndSize(col.data, col.size),
                    PyBytes_FromStringAndSize(<char*> bitmap, nbytes),
                    nulls,
                ))
            finally:
                free(bitmap)
        return out


cdef bint _value(tree.xmlNode* node, const char** ptr, Py_ssize_t* length, list keep, bint* nested):
    """Point at the text of a leaf (joining several text/CDATA nodes if need be); flag element children."""
    cdef tree.xmlNode* t = node.children
    cdef const char* s
    cdef int pieces = 0
    cdef bytes joined = None
    while t is not NULL:
        if t.type == tree.XML_TEXT_NODE or t.type == tree.XML_CDATA_SECTION_NODE:
            s = <const char*> t.content
            if s is not NULL:
                if pieces == 0:
                    ptr[0] = s
                    length[0] = strlen(s)
                else:
                    if joined is None:
                        joined = PyBytes_FromStringAndSize(ptr[0], length[0])
                    joined = joined + PyBytes_FromStringAndSize(s, strlen(s))
                pieces += 1
        elif t.type == tree.XML_ELEMENT_NODE:
            nested[0] = True
        t = t.next
    if joined is not None:
        keep.append(joined)
        ptr[0] = <const char*> joined
        length[0] = len(joined)
    return pieces > 0


cdef inline Py_ssize_t _column(ColumnSink sink, const char* name, Py_ssize_t last):
    """Column of a leaf name: fields mostly come in XSD order, so try the ones after the last first."""
    cdef Py_ssize_t i
    for i in range(last + 1, sink.ncols):
        if strcmp(sink.cnames[i], name) == 0:
            return i
    for i in range(0, last + 1 if last + 1 < sink.ncols else sink.ncols):
        if strcmp(sink.cnames[i], name) == 0:
            return i
    return -1


cdef void _row(tree.xmlNode* el, dict names, ColumnSink sink, list events, Py_ssize_t k, str part,
               Py_ssize_t j) except *:
    """Read the leaves of one head or line into ``sink``; unusual things go to ``events``."""
    cdef tree.xmlNode* c = el.children
    cdef Py_ssize_t last = -1
    cdef Py_ssize_t i
    cdef bint nested
    cdef bint has
    cdef const char* p
    cdef Py_ssize_t n
    sink._begin()
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            i = _column(sink, <const char*> c.name, last)
            if i < 0:
                events.append(("unknown", k, part, j, <bytes> c.name))
            else:
                if sink.ptr[i] is not NULL:
                    events.append(("duplicate", k, part, j, <bytes> c.name))
                else:
                    nested = False
                    p = NULL
                    n = 0
                    has = _value(c, &p, &n, sink.keep, &nested)
                    if nested:
                        events.append(("nested", k, part, j, <bytes> c.name))
                    else:
                        if has:
                            sink.ptr[i] = p
                            sink.length[i] = n
                        if i < last:
                            events.append(("order", k, part, j, <bytes> c.name))
                        last = i
        c = c.next
    sink._commit()


def walk(_Element root, bytes doc_name, bint wrapped, bytes head_name, object lines_name,
         dict head_names, ColumnSink head, dict line_names, ColumnSink lines,
         Py_ssize_t lines_min, Py_ssize_t lines_max,
         list head_doc, list line_doc, list line_line):
    """Read every document of a message into the column sinks (the whole structural walk, in C).

    Returns ``(documents, others, first_doc, events)``: ``others`` lists ``(position, name)`` of the root's
    non-document children (BaseTransfer, Signature …) for the caller to read; ``first_doc`` is the position of
    the first document element; events are ``(kind, doc, part, line, name)``.
    """
    cdef tree.xmlNode* c = root._c_node.children
    cdef tree.xmlNode* p
    cdef Py_ssize_t pos = 0, k = 0, j, first_doc = -1
    cdef bint head_seen
    cdef bytes lname = lines_name if lines_name is not None else None
    others = []
    events = []
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if <bytes> c.name == doc_name:
                if first_doc < 0:
                    first_doc = pos
                if not wrapped:
                    _row(c, head_names, head, events, k, "head", 0)
                    head_doc.append(k)
                else:
                    head_seen = False
                    j = 0
                    p = c.children
                    while p is not NULL:
                        if p.type == tree.XML_ELEMENT_NODE:
                            if <bytes> p.name == head_name:
                                if head_seen:
                                    events.append(("head_duplicate", k, "doc", 0, head_name))
                                else:
                                    head_seen = True
                                    if j:
                                        events.append(("head_order", k, "doc", 0, head_name))
                                    _row(p, head_names, head, events, k, "head", 0)
                                    head_doc.append(k)
                            elif lname is not None and <bytes> p.name == lname:
                                _row(p, line_names, lines, events, k, "lines", j)
                                line_doc.append(k)
                                line_line.append(j)
                                j += 1
                            else:
                                events.append(("unknown", k, "doc", 0, <bytes> p.name))
                        p = p.next
                    if not head_seen:
                        events.append(("head_missing", k, "doc", 0, head_name))
                    if lname is not None:
                        if j < lines_min:
                            events.append(("lines_missing", k, "doc", j, lname))
                        if lines_max >= 0 and j > lines_max:
                            events.append(("lines_too_many", k, "doc", j, lname))
                k += 1
            else:
                others.append((pos, <bytes> c.name))
            pos += 1
        c = c.next
    return k, others, first_doc, events
