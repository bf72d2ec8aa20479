"""cbec — a cross-border e-commerce (跨境电商) clearance platform.

The package is layered as DESIGN.md describes: ``params`` (dated rules data), ``messages`` (CEB codecs),
``rules`` (pure vectorised rules), ``engine``, ``store``, ``service``, ``sim`` and the ``cli``.
"""

from cbec._allocator import configure_polars_allocator
from cbec._threads import configure_service_threads

__version__ = "0.1.0"

# before anything imports Polars: how long its allocator keeps freed pages (why: cbec/_allocator.py)
configure_polars_allocator()
# and, in the service's processes, one Polars thread (why: cbec/_threads.py)
configure_service_threads()
