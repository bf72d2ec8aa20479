"""The cross-district return-site registry through ``cbec return-site``: filing, re-filing, a CSV load that is
all or nothing, and bad input refused with a reason in 中文 and English, changing nothing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cbec.cli import app

RUNNER = CliRunner()


def _run(db: str, *args: str) -> tuple[int, str]:
    result = RUNNER.invoke(app, ["return-site", *args, "--database", db])
    return result.exit_code, result.output


def _sites(db: str) -> list[dict[str, object]]:
    code, out = _run(db, "list")
    assert code == 0, out
    return list(json.loads(out[out.index("[") :]))


def test_file_refile_and_list(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cbec.db'}"
    code, out = _run(db, "file", "3100", "3302960701", "--name", "宁波退货中心", "--from", "2024-12-15")
    assert code == 0, out
    code, out = _run(
        db, "file", "3100", "3302960701", "--name", "宁波退货中心", "--from", "2025-01-01", "--no-return-area"
    )
    assert code == 0, out
    [site] = _sites(db)
    assert site["valid_from"] == "2025-01-01" and site["return_area"] is False


def test_bad_input_changes_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cbec.db'}"
    assert _run(db, "file", "3100", "OP1", "--name", "A", "--from", "2024-12-15")[0] == 0
    for args, reason in (
        (["file", "31", "OP2", "--name", "B", "--from", "2024-12-15"], "4 digits"),
        (["file", "3100", "OP2", "--name", "B", "--from", "2024-12-15", "--to", "2024-01-01"], "valid_to"),
        (["file", "3100", "OP2", "--name", "B", "--from", "15/12/2024"], "YYYY-MM-DD"),
    ):
        code, out = _run(db, *args)
        assert code == 2 and reason in out, out
    csv = tmp_path / "sites.csv"
    csv.write_text(
        "customs_code,operator_code,name,valid_from\n2200,OP3,C,2024-12-15\n22,OP4,D,2024-12-15\n",
        encoding="utf-8",
    )
    code, out = _run(db, "load", str(csv))
    assert code == 2 and "4 digits" in out
    assert [s["operator_code"] for s in _sites(db)] == ["OP1"]  # the good CSV row was not filed either
