"""Helper processes end with the process that started them.

A process killed outright (``kill -9``, the out-of-memory killer) closes nothing, so its helpers (the
service's HTTP processes, ``cbec clear``'s decoding workers) would go on alone: serving with no clearer
behind them, or waiting on a task queue for ever with a few hundred MB each.  Once its parent is gone a
process is given a new one (init or a subreaper); a thread in each helper watches for that change.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Final

log = logging.getLogger(__name__)

#: How often a helper looks whether its parent is still there, in seconds.
CHECK_SECONDS: Final = 0.5


def exit_with_parent(parent: int | None = None) -> None:
    """Start the watch: this process exits once ``parent`` (default: its parent now) is gone."""
    watched = os.getppid() if parent is None else parent
    threading.Thread(target=_watch, args=(watched,), name="cbec-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK_SECONDS)
    log.warning("the parent process %d is gone; stopping", parent)
    os._exit(0)
