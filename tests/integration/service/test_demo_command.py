"""``cbec demo --exit``: files the cast, streams a generated day through the API, prints the summary."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_streams_a_day_and_reports(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "cbec.cli", "demo", "--parcels", "200", "--port", str(port),
         "--folder", str(tmp_path / "demo"), "--exit"],
        capture_output=True, text=True, timeout=300, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "released 放行" in out
    assert "refused at the door 拒收" in out and "none 无" in out  # every message accepted by the API
    assert f"http://127.0.0.1:{port}/console" in out
    assert "customs officer 海关关员: cbec_" in out
    assert "return site 退货监管场所 3302960701 (Ningbo, cross-district returns): cbec_" in out
    assert "Traceback" not in done.stderr
    # the zones' bonded ledgers: the planted shortage held lists, the replenishment released them
    found = re.search(r"bonded ledgers: (\d+) lists held .* released (\d+)", out.replace("\n", " "))
    assert found, out[-2000:]
    assert int(found.group(1)) >= 1 and int(found.group(2)) == int(found.group(1))
    assert "zone warehouse 区内仓储企业 3301960501 (ledger T2924W000001): cbec_" in out
    # exports streamed after the imports, in the order of a day: most lists reach 899 after departure
    exports = re.search(r"export lists: (\d+) — 结关 cleared (\d+)", out)
    assert exports, out[-2000:]
    assert int(exports.group(2)) >= int(exports.group(1)) * 0.8
    # the day's returns after the exports, with the service's clock: import returns (one planted over the
    # imported quantity), export returns (one over the exported quantity, refused; one into an unfiled
    # site, whose tally is refused), cross-district returns into the filed site, a consolidated master bill
    imports = re.search(r"import returns \(CEB625\): \d+ — 受理 accepted (\d+), 退单 refused 1 "
                        r"\(-625903 ×1\)", out)  # fmt: skip
    assert imports, out[-2000:]
    assert int(imports.group(1)) >= 2
    back = re.search(r"export returns \(CEB213\): \d+ — 放行 released (\d+), 入库 accepted 1, 退单 refused 1 "
                     r"\(-213907 ×1\)", out)  # fmt: skip
    assert back, out[-2000:]
    assert int(back.group(1)) >= 3
    tallied = re.search(r"tallies \(CEB215\): \d+ — 理货 tallied (\d+), 退单 refused 1 \(-215902 ×1\)", out)
    assert tallied, out[-2000:]
    assert int(tallied.group(1)) == int(back.group(1))  # every released return was tallied
    mixed = re.search(r"cross-district returns: (\d+); 退货合包 consolidated: (\d+) parcels under (\d+)", out)
    assert mixed, out[-2000:]
    assert int(mixed.group(1)) >= 2 and int(mixed.group(2)) >= 2 and int(mixed.group(3)) >= 1
