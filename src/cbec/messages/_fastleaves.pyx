# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""C-speed structural walk of CEB messages into Arrow string columns (optional accelerator).

Walking a parsed message from Python creates a proxy object, a tag string and a text string per leaf, then
Polars converts every Python string again: together that costs more than libxml2's whole parse.  Here the
libxml2 nodes behind an lxml element are read directly (through lxml's public C API) and the UTF-8 bytes of
each value are written straight into Arrow ``string_view`` columns (the layout Polars uses for its strings, so
the finished columns are handed over without a copy): no Python object per value at all.  While copying, each
column notes whether any value is empty or has white space at either end (else the field checks need not trim
it) and whether all its values are ASCII (else lengths must be counted in characters).
The pure-Python walk in ``extract.py`` stays as the fallback and as the reference the tests compare with.
"""

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset, strcmp, strlen
from lxml.includes cimport tree
from lxml.includes.etreepublic cimport _Element, import_lxml__etree

import_lxml__etree()

# extract.py uses the accelerator only when it speaks this version of the interface
ABI_VERSION = 3

DEF VIEW = 16          # bytes per string_view entry
DEF INLINE = 12        # values up to this length live inside the view
DEF CHUNK_LIMIT = 0x7FFFFFFF  # a view's offset is an int32: long values go to chunks of at most this size


cdef class Block:
    """A malloc'd buffer owned by Python (exposed through the buffer protocol, freed with the object)."""

    cdef char* ptr
    cdef Py_ssize_t size

    def __dealloc__(self):
        free(self.ptr)

    def __getbuffer__(self, Py_buffer* buf, int flags):
        PyBuffer_FillInfo(buf, self, self.ptr, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer* buf):
        pass

    def __len__(self):
        return self.size


cdef Block _block(void* ptr, Py_ssize_t size):
    """Hand ``ptr`` (malloc'd, never NULL) over to a Block."""
    cdef Block b = Block.__new__(Block)
    b.ptr = <char*> ptr
    b.size = size
    return b


cdef void* _alloc(Py_ssize_t size) except NULL:
    cdef void* p = malloc(size if size > 0 else 1)
    if p is NULL:
        raise MemoryError()
    return p


cdef void* _grow(void* p, Py_ssize_t size) except NULL:
    cdef void* q = realloc(p, size if size > 0 else 1)
    if q is NULL:
        raise MemoryError()
    return q


cdef struct Column:
    uint8_t* views       # VIEW bytes per row
    uint8_t* valid       # validity bitmap
    char** chunks        # the long values, back to back; a new chunk when one would pass CHUNK_LIMIT
    int64_t* chunk_size
    int64_t* chunk_cap
    Py_ssize_t nchunks
    Py_ssize_t count     # rows with a value
    bint untrimmed       # some value is empty or starts or ends with white space
    bint non_ascii       # some value has a byte >= 0x80
    int64_t min_chars    # shortest and longest value, in characters
    int64_t max_chars
    int kind             # NUMBER_* : what ``numeric_ok`` checks
    int whole            # digits before the point (decimals), digits (integers)
    int frac             # digits after the point (decimals)
    bint numeric_ok      # every value is a plain ASCII number within the facets (integers: and an int32)


cdef inline bint _space_at(const uint8_t* p, Py_ssize_t n) noexcept:
    """Does the UTF-8 character at ``p`` (``n`` bytes left) have the Unicode White_Space property?

    The same set as Rust's ``char::is_whitespace``, which Polars' ``strip_chars`` trims.
    """
    cdef uint8_t c = p[0]
    if c < 0x80:
        return c == 0x20 or (c >= 0x09 and c <= 0x0D)
    if c == 0xC2:  # U+0085, U+00A0
        return n >= 2 and (p[1] == 0x85 or p[1] == 0xA0)
    if c == 0xE1:  # U+1680
        return n >= 3 and p[1] == 0x9A and p[2] == 0x80
    if c == 0xE2 and n >= 3:
        if p[1] == 0x80:  # U+2000..U+200A, U+2028, U+2029, U+202F
            return (p[2] >= 0x80 and p[2] <= 0x8A) or p[2] == 0xA8 or p[2] == 0xA9 or p[2] == 0xAF
        return p[1] == 0x81 and p[2] == 0x9F  # U+205F
    if c == 0xE3:  # U+3000
        return n >= 3 and p[1] == 0x80 and p[2] == 0x80
    return False


cdef inline Py_ssize_t _continuations(const uint8_t* p, Py_ssize_t n) noexcept:
    """How many UTF-8 continuation bytes (10xxxxxx): characters = bytes - continuations (8 at a time)."""
    cdef uint64_t word
    cdef Py_ssize_t i = 0, count = 0
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        if word & 0x8080808080808080ULL:
            # 10xxxxxx: bit 7 set, bit 6 clear; move the marks to bit 0 of each byte and add the bytes up
            word = (word & ~(word << 1) & 0x8080808080808080ULL) >> 7
            count += <Py_ssize_t> ((word * 0x0101010101010101ULL) >> 56)
        i += 8
    while i < n:
        if (p[i] & 0xC0) == 0x80:
            count += 1
        i += 1
    return count


DEF NUMBER_NONE = 0
DEF NUMBER_DECIMAL = 1
DEF NUMBER_INT = 2


cdef inline bint _plain_number(const uint8_t* p, Py_ssize_t n, int kind, int whole, int frac) noexcept:
    """``[+-]?d{1,whole}(.d{1,frac})?`` in ASCII digits (integers: ``[+-]?d{1,whole}`` and an int32).

    Stricter than the field checks' patterns (whose digits are Unicode's), so a value passing here passes
    there: a column whose values all pass needs no pattern check.
    """
    cdef Py_ssize_t i = 0, start
    cdef int64_t value = 0
    cdef bint negative = False
    if n > 0 and (p[0] == 0x2B or p[0] == 0x2D):  # + -
        negative = p[0] == 0x2D
        i = 1
    start = i
    while i < n and p[i] >= 0x30 and p[i] <= 0x39:
        if kind == NUMBER_INT and i - start < 18:
            value = value * 10 + (p[i] - 0x30)
        i += 1
    if i - start < 1 or i - start > whole:
        return False
    if kind == NUMBER_INT:
        if i != n or i - start > 18:
            return False
        if negative:
            value = -value
        return value >= -2147483648 and value <= 2147483647
    if i == n:
        return True
    if frac <= 0 or p[i] != 0x2E:  # .
        return False
    i += 1
    start = i
    while i < n and p[i] >= 0x30 and p[i] <= 0x39:
        i += 1
    return i == n and i - start >= 1 and i - start <= frac


cdef inline bint _needs_trim(const uint8_t* p, Py_ssize_t n) noexcept:
    """Empty, or white space at either end (what the field checks would trim)."""
    cdef Py_ssize_t j
    if n == 0:
        return True
    if _space_at(p, n):
        return True
    j = n - 1
    while j > 0 and (p[j] & 0xC0) == 0x80 and n - j < 4:
        j -= 1
    return _space_at(p + j, n - j)


def needs_trim(bytes value):
    """For the tests: the C whitespace rule on one UTF-8 value."""
    return _needs_trim(<const uint8_t*> (<const char*> value), len(value))


cdef class ColumnSink:
    """Growing Arrow ``string_view`` columns for one entity (a head or a line kind), with the row keys."""

    cdef Column* cols
    cdef public Py_ssize_t ncols
    cdef public Py_ssize_t nrows
    cdef Py_ssize_t row_capacity
    # the row keys (_msg, _doc, _line), int32 each
    cdef int32_t* kmsg
    cdef int32_t* kdoc
    cdef int32_t* kline
    # scratch for the row being read: pointer/length per column, the columns set (in the order read);
    # ``keep`` holds joined values alive
    cdef const char** ptr
    cdef Py_ssize_t* length
    cdef Py_ssize_t* touched
    cdef Py_ssize_t ntouched
    cdef list keep
    # the field names, in column order, as C strings (kept alive by ``names``)
    cdef const char** cnames
    cdef list names
    cdef list numbers

    def __cinit__(self, list names, list numbers=None):
        """``numbers``: per column ``(kind, whole, frac)`` — 1 decimal, 2 integer, 0 neither."""
        cdef Py_ssize_t i
        cdef Py_ssize_t ncols = len(names)
        self.names = [n if isinstance(n, bytes) else n.encode() for n in names]
        self.ncols = ncols
        self.cnames = <const char**> _alloc(sizeof(char*) * ncols)
        for i in range(ncols):
            self.cnames[i] = <const char*> self.names[i]
        self.ptr = <const char**> _alloc(sizeof(char*) * ncols)
        memset(self.ptr, 0, sizeof(char*) * ncols)
        self.length = <Py_ssize_t*> _alloc(sizeof(Py_ssize_t) * ncols)
        self.touched = <Py_ssize_t*> _alloc(sizeof(Py_ssize_t) * ncols)
        self.ntouched = 0
        self.cols = <Column*> _alloc(sizeof(Column) * ncols)
        memset(self.cols, 0, sizeof(Column) * ncols)
        self.numbers = [(NUMBER_NONE, 0, 0)] * ncols if numbers is None else list(numbers)
        if len(self.numbers) != ncols:
            raise ValueError("one (kind, whole, frac) per column")
        self.keep = []
        self.nrows = 0
        self.row_capacity = 0  # the columns are allocated with the first row

    cdef int _reset(self) except -1:
        """Empty columns with room for 1024 rows (the previous buffers were handed over or freed)."""
        cdef Py_ssize_t i
        cdef Column* col
        self.nrows = 0
        self.row_capacity = 1024
        self.kmsg = <int32_t*> _alloc(sizeof(int32_t) * self.row_capacity)
        self.kdoc = <int32_t*> _alloc(sizeof(int32_t) * self.row_capacity)
        self.kline = <int32_t*> _alloc(sizeof(int32_t) * self.row_capacity)
        for i in range(self.ncols):
            col = &self.cols[i]
            col.views = <uint8_t*> _alloc(VIEW * self.row_capacity)
            memset(col.views, 0, VIEW * self.row_capacity)  # a row without a value keeps a zero view
            col.valid = <uint8_t*> _alloc(self.row_capacity // 8)
            memset(col.valid, 0, self.row_capacity // 8)
            col.chunks = <char**> _alloc(sizeof(char*))
            col.chunk_size = <int64_t*> _alloc(sizeof(int64_t))
            col.chunk_cap = <int64_t*> _alloc(sizeof(int64_t))
            col.chunks[0] = <char*> _alloc(4096)
            col.chunk_size[0] = 0
            col.chunk_cap[0] = 4096
            col.nchunks = 1
            col.count = 0
            col.untrimmed = False
            col.non_ascii = False
            col.min_chars = 0x7FFFFFFFFFFFFFFF
            col.max_chars = -1
            col.kind, col.whole, col.frac = self.numbers[i]
            col.numeric_ok = True
        return 0

    cdef void _free_columns(self):
        cdef Py_ssize_t i, k
        cdef Column* col
        free(self.kmsg)
        free(self.kdoc)
        free(self.kline)
        self.kmsg = self.kdoc = self.kline = NULL
        if self.cols is NULL:
            return
        for i in range(self.ncols):
            col = &self.cols[i]
            free(col.views)
            free(col.valid)
            if col.chunks is not NULL:
                for k in range(col.nchunks):
                    free(col.chunks[k])
            free(col.chunks)
            free(col.chunk_size)
            free(col.chunk_cap)
            memset(col, 0, sizeof(Column))

    def __dealloc__(self):
        self._free_columns()
        free(self.cols)
        free(self.ptr)
        free(self.length)
        free(self.touched)
        free(self.cnames)

    cdef int _grow_rows(self) except -1:
        cdef Py_ssize_t i
        cdef Py_ssize_t cap = self.row_capacity * 2
        cdef Column* col
        self.kmsg = <int32_t*> _grow(self.kmsg, sizeof(int32_t) * cap)
        self.kdoc = <int32_t*> _grow(self.kdoc, sizeof(int32_t) * cap)
        self.kline = <int32_t*> _grow(self.kline, sizeof(int32_t) * cap)
        for i in range(self.ncols):
            col = &self.cols[i]
            col.views = <uint8_t*> _grow(col.views, VIEW * cap)
            memset(col.views + VIEW * self.row_capacity, 0, VIEW * (cap - self.row_capacity))
            col.valid = <uint8_t*> _grow(col.valid, cap // 8)
            memset(col.valid + self.row_capacity // 8, 0, (cap - self.row_capacity) // 8)
        self.row_capacity = cap
        return 0

    cdef int32_t _store(self, Column* col, const char* p, Py_ssize_t n) except -1:
        """Copy a long value into the column's current chunk; return its offset there."""
        cdef int64_t need
        cdef Py_ssize_t k = col.nchunks - 1
        cdef int64_t cap
        if col.chunk_size[k] + n > CHUNK_LIMIT:
            col.chunks = <char**> _grow(col.chunks, sizeof(char*) * (k + 2))
            col.chunk_size = <int64_t*> _grow(col.chunk_size, sizeof(int64_t) * (k + 2))
            col.chunk_cap = <int64_t*> _grow(col.chunk_cap, sizeof(int64_t) * (k + 2))
            k += 1
            col.chunks[k] = <char*> _alloc(4096)
            col.chunk_size[k] = 0
            col.chunk_cap[k] = 4096
            col.nchunks = k + 1
        need = col.chunk_size[k] + n
        if need > col.chunk_cap[k]:
            cap = col.chunk_cap[k]
            while need > cap:
                cap *= 2
            if cap > CHUNK_LIMIT:
                cap = CHUNK_LIMIT
            col.chunks[k] = <char*> _grow(col.chunks[k], cap)
            col.chunk_cap[k] = cap
        memcpy(col.chunks[k] + col.chunk_size[k], p, n)
        col.chunk_size[k] = need
        return <int32_t> (need - n)

    cdef inline void _clear(self) noexcept:
        """Forget a row left half-read (only after an error: a commit clears the row)."""
        cdef Py_ssize_t k
        for k in range(self.ntouched):
            self.ptr[self.touched[k]] = NULL
        self.ntouched = 0

    cdef inline void _set(self, Py_ssize_t i, const char* p, Py_ssize_t n) noexcept:
        """Column ``i`` of the row being read has the value ``p[:n]``."""
        self.ptr[i] = p
        self.length[i] = n
        self.touched[self.ntouched] = i
        self.ntouched += 1

    cdef int _commit(self, int32_t msg, int32_t doc, int32_t line) except -1:
        """Append the row read so far (only the columns that have a value are touched) and clear it."""
        cdef Py_ssize_t i, k, n, chars
        cdef Py_ssize_t r = self.nrows
        cdef Column* col
        cdef uint8_t* view
        cdef const uint8_t* p
        cdef int32_t n32, offset, chunk
        if self.kmsg is NULL:
            self._reset()
        if r >= self.row_capacity:
            self._grow_rows()
        self.kmsg[r] = msg
        self.kdoc[r] = doc
        self.kline[r] = line
        for k in range(self.ntouched):
            i = self.touched[k]
            col = &self.cols[i]
            view = col.views + VIEW * r
            col.count += 1
            col.valid[r >> 3] |= <uint8_t> (1 << (r & 7))
            p = <const uint8_t*> self.ptr[i]
            n = self.length[i]
            self.ptr[i] = NULL
            if n > CHUNK_LIMIT:
                raise OverflowError("value too long for a string column")
            if not col.untrimmed and _needs_trim(p, n):
                col.untrimmed = True
            chars = n - _continuations(p, n)
            if chars != n:  # (libxml2 hands over valid UTF-8: a byte >= 0x80 means a continuation byte)
                col.non_ascii = True
            if chars < col.min_chars:
                col.min_chars = chars
            if chars > col.max_chars:
                col.max_chars = chars
            if col.kind != NUMBER_NONE and col.numeric_ok:
                col.numeric_ok = _plain_number(p, n, col.kind, col.whole, col.frac)
            n32 = <int32_t> n
            memcpy(view, &n32, 4)
            if n <= INLINE:
                memcpy(view + 4, p, n)
            else:
                memcpy(view + 4, p, 4)
                offset = self._store(col, <const char*> p, n)
                chunk = <int32_t> (col.nchunks - 1)
                memcpy(view + 8, &chunk, 4)
                memcpy(view + 12, &offset, 4)
        self.ntouched = 0
        self.nrows = r + 1
        if self.keep:
            self.keep.clear()
        return 0

    def export(self):
        """Hand the columns over and start empty again.

        Returns ``(keys, columns)``: ``keys`` is ``(msg, doc, line)``, each a Block of int32 per row;
        ``columns`` has per column ``(validity bitmap, null count, views, [data chunks], facts)``, the
        buffers as Blocks that own their memory, ``facts`` a tuple ``(untrimmed, non_ascii, min_chars,
        max_chars, numeric_ok)`` (the lengths -1 without values; ``numeric_ok`` False for other columns).
        """
        cdef Py_ssize_t i, k
        cdef Py_ssize_t n = self.nrows
        cdef Column* col
        if self.kmsg is NULL:
            self._reset()
        keys = (
            _block(self.kmsg, sizeof(int32_t) * n),
            _block(self.kdoc, sizeof(int32_t) * n),
            _block(self.kline, sizeof(int32_t) * n),
        )
        self.kmsg = self.kdoc = self.kline = NULL
        out = []
        for i in range(self.ncols):
            col = &self.cols[i]
            chunks = []
            for k in range(col.nchunks):
                chunks.append(_block(col.chunks[k], col.chunk_size[k]))
                col.chunks[k] = NULL
            out.append((
                _block(col.valid, (n + 7) // 8),
                n - col.count,
                _block(col.views, VIEW * n),
                chunks,
                (
                    bool(col.untrimmed),
                    bool(col.non_ascii),
                    col.min_chars if col.count else -1,
                    col.max_chars if col.count else -1,
                    bool(col.numeric_ok) and col.kind != NUMBER_NONE,
                ),
            ))
            col.valid = NULL
            col.views = NULL
        self._free_columns()
        self.nrows = 0
        self.row_capacity = 0
        return keys, out


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


cdef inline Py_ssize_t _column(ColumnSink sink, const char* name, Py_ssize_t last) noexcept:
    """Column of a leaf name: fields mostly come in XSD order, so try the ones after the last first."""
    cdef Py_ssize_t i
    for i in range(last + 1, sink.ncols):
        if strcmp(sink.cnames[i], name) == 0:
            return i
    for i in range(0, last + 1 if last + 1 < sink.ncols else sink.ncols):
        if strcmp(sink.cnames[i], name) == 0:
            return i
    return -1


cdef int _row(tree.xmlNode* el, ColumnSink sink, list events, int32_t msg, int32_t k, str part,
              int32_t j) except -1:
    """Read the leaves of one head or line into ``sink``; unusual things go to ``events``."""
    cdef tree.xmlNode* c = el.children
    cdef Py_ssize_t last = -1
    cdef Py_ssize_t i
    cdef bint nested
    cdef bint has
    cdef const char* p
    cdef Py_ssize_t n
    if sink.ntouched:
        sink._clear()
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
                            sink._set(i, p, n)
                        if i < last:
                            events.append(("order", k, part, j, <bytes> c.name))
                        last = i
        c = c.next
    return sink._commit(msg, k, j)


def walk(_Element root, int32_t msg, bytes doc_name, bint wrapped, bytes head_name, object lines_name,
         ColumnSink head, ColumnSink lines, Py_ssize_t lines_min, Py_ssize_t lines_max):
    """Read every document of a message into the column sinks (the whole structural walk, in C).

    Rows are keyed ``(msg, document, line)``.  Returns ``(documents, others, first_doc, events)``:
    ``others`` lists ``(position, name)`` of the root's non-document children (BaseTransfer, Signature …) for
    the caller to read; ``first_doc`` is the position of the first document element; events are
    ``(kind, doc, part, line, name)``.
    """
    cdef tree.xmlNode* c = root._c_node.children
    cdef tree.xmlNode* p
    cdef Py_ssize_t pos = 0, first_doc = -1
    cdef int32_t k = 0, j
    cdef bint head_seen
    cdef const char* cdoc = <const char*> doc_name
    cdef const char* chead = <const char*> head_name
    cdef bytes lname = lines_name if lines_name is not None else None
    cdef const char* clines = <const char*> lname if lname is not None else NULL
    others = []
    events = []
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            if strcmp(<const char*> c.name, cdoc) == 0:
                if first_doc < 0:
                    first_doc = pos
                if not wrapped:
                    _row(c, head, events, msg, k, "head", 0)
                else:
                    head_seen = False
                    j = 0
                    p = c.children
                    while p is not NULL:
                        if p.type == tree.XML_ELEMENT_NODE:
                            if strcmp(<const char*> p.name, chead) == 0:
                                if head_seen:
                                    events.append(("head_duplicate", k, "doc", 0, head_name))
                                else:
                                    head_seen = True
                                    if j:
                                        events.append(("head_order", k, "doc", 0, head_name))
                                    _row(p, head, events, msg, k, "head", 0)
                            elif clines is not NULL and strcmp(<const char*> p.name, clines) == 0:
                                _row(p, lines, events, msg, k, "lines", j)
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
