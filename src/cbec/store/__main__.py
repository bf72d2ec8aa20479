"""Alembic's command line for the cbec store, without an alembic.ini: ``python -m cbec.store <command>``.

Examples: ``python -m cbec.store current``, ``python -m cbec.store upgrade head``,
``python -m cbec.store upgrade head --sql`` (print the SQL for a DBA), and, for developers,
``python -m cbec.store revision --autogenerate --rev-id 0002 -m "add x"``.  The database is
``$CBEC_DATABASE_URL`` or ``var/cbec.db`` (see :func:`cbec.store.db.database_url`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from alembic.config import CommandLine

from cbec.store.db import alembic_config, database_url


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # Alembic reports progress by logging
    cli = CommandLine(prog="python -m cbec.store")
    options = cli.parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(database_url()), options)


if __name__ == "__main__":
    main()
