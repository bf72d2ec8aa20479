"""Data-key chores from the shell (no database needed): ``python -m cbec.privacy new-key | rotate FILE``.

* ``new-key``: print a new random key (base64), e.g. for ``$CBEC_DATA_KEY`` or a secrets manager;
* ``rotate FILE [--drop KEY_ID …]``: put a new key first in a key file, keeping the old ones for reading;
  ``--drop`` removes keys no longer needed (after ``cbec.store.data_key.reencrypt``);
* ``ids FILE``: the key ids in a key file, current first (what ciphertexts name; never the keys).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cbec.privacy.keys import encode_key, new_key, parse_keys, rotate_key_file


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cbec.privacy", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("new-key")
    rotate = sub.add_parser("rotate")
    rotate.add_argument("file", type=Path)
    rotate.add_argument("--drop", nargs="*", default=[])
    ids = sub.add_parser("ids")
    ids.add_argument("file", type=Path)
    args = ap.parse_args(argv)
    if args.command == "new-key":
        print(encode_key(new_key()))
    elif args.command == "rotate":
        print(f"current key id: {rotate_key_file(args.file, drop=args.drop).hex()}")
    else:
        ring = parse_keys(args.file.read_text(), source=str(args.file))
        for kid in ring.keys:
            print(kid.hex(), "(current)" if kid == ring.current_id else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
