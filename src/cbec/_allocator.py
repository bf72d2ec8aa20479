"""How long Polars' allocator keeps freed memory before giving it back to the operating system.

Polars allocates with jemalloc, and by default returns freed pages to the kernel within about a second
(``dirty_decay_ms:500,muzzy_decay_ms:1000``, set by ``polars/__init__.py``). Columnar work over millions of
rows — the monthly summary declaration above all (``cbec.rules.summary``, ``bench/summary.py``) — frees and
allocates intermediate columns of hundreds of megabytes in quick succession; with a one-second decay most of
those allocations get fresh pages, and the kernel zeroing them was over 40 % of the summary's CPU time.
Keeping freed pages for :data:`RETAIN_MS` lets the next column reuse them: on 2 M lists the summary's page
faults fell by 40 % and its system time by half (``docs/benchmarks.md``), at the price of a higher peak
(+15 %) while it runs. The pages still go back to the kernel :data:`RETAIN_MS` after the work stops
(jemalloc's background thread decays them), so a long-running server does not keep a month's peak for ever.

jemalloc reads its options once, when Polars' library loads: this must run before the first ``import polars``
of the process, which is why ``cbec/__init__.py`` calls it (every entry point — the CLI, the service, the
benches — imports ``cbec`` first). An operator's own ``_RJEM_MALLOC_CONF`` is kept and comes after ours, so
any option it sets wins.
"""

from __future__ import annotations

import os
import sys
from typing import Final

__all__ = ["RETAIN_MS", "configure_polars_allocator"]

#: Milliseconds freed pages stay with the process (jemalloc dirty and muzzy decay): longer than a large
#: summary step, short enough that an idle service gives the memory back.
RETAIN_MS: Final = 20_000
_ENV: Final = "_RJEM_MALLOC_CONF"


def configure_polars_allocator() -> bool:
    """Ask for :data:`RETAIN_MS` of retention; False when Polars is loaded already (too late to change)."""
    if "polars" in sys.modules:
        return False
    ours = f"dirty_decay_ms:{RETAIN_MS},muzzy_decay_ms:{RETAIN_MS}"
    theirs = os.environ.get(_ENV)
    if theirs and theirs.startswith(ours):
        return True  # already configured (a second call, or inherited from a parent cbec process)
    os.environ[_ENV] = f"{ours},{theirs}" if theirs else ours
    return True
