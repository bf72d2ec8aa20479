"""How many threads Polars may use in the service's processes (``cbec serve``, ``cbec worker``).

Polars sizes its thread pool once, when it loads, to the number of cores.  In a service on a small machine
that is the wrong trade: a clearing step spreading over both cores of the 2-core VM takes the CPU away from
the HTTP processes just when they must acknowledge the next messages, and the acknowledgements' tail latency
doubled (``bench/api``: p99 78–98 ms with one Polars thread, 131–181 ms with two; docs/benchmarks.md).  The
columns a service step works on (a few thousand rows) gain little from a second thread anyway, and the
operating system still spreads the processes over the cores.  So the service commands default to one
Polars thread; an operator's own ``POLARS_MAX_THREADS`` wins.  Batch commands (``cbec clear``, the summary)
keep every core in their own process; the decoding workers ``cbec clear`` spawns get one thread each, for
the same reason (:class:`cbec.engine.pipeline._WorkerProcess`).

Like the allocator setting (:mod:`cbec._allocator`) this must happen before the first ``import polars``,
which is why ``cbec/__init__.py`` calls it; the processes ``cbec serve --processes`` spawns inherit it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final

__all__ = ["POLARS_THREADS_ENV", "SERVICE_COMMANDS", "configure_service_threads"]

SERVICE_COMMANDS: Final = frozenset({"serve", "worker"})
#: the variable Polars reads, once, when it loads
POLARS_THREADS_ENV: Final = "POLARS_MAX_THREADS"


def configure_service_threads(argv: Sequence[str] | None = None) -> bool:
    """One Polars thread when this process runs a service command; True when it set it."""
    args = list(sys.argv if argv is None else argv)
    if (
        len(args) < 2
        or args[1] not in SERVICE_COMMANDS
        or POLARS_THREADS_ENV in os.environ
        or "polars" in sys.modules
    ):
        return False
    launcher = os.path.basename(args[0])
    if launcher not in {"-m", "cbec", "cli.py", "__main__.py"}:
        return False  # some other program whose first argument happens to be "serve"
    os.environ[POLARS_THREADS_ENV] = "1"
    return True
