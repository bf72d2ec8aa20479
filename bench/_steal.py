"""CPU time the hypervisor gave to other guests while a benchmark ran (``steal`` in /proc/stat).

The development VM shares its host: in one session the same single-threaded intake work took 5.9 ms per
message at one hour and 13–16 ms an hour later, with a sixth of all CPU time stolen. Latency percentiles
from such a window say more about the neighbours than about cbec, so the benches print the share of CPU
time stolen while they measured, beside their figures.
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) ticks of all CPUs since boot, or None where /proc/stat is not there."""
    try:
        fields = _STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    values = [int(v) for v in fields[1:]]
    steal = values[7] if len(values) > 7 else 0
    return steal, sum(values[:8])  # guest time is already counted in user


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Stolen share of the CPU time between two :func:`cpu_ticks` readings (0–1), None if unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)
