"""Where the shared reference material lives.

Tests and developer scripts read the official XSDs and samples from ``../shared`` next to the checkout; the
package itself never depends on that folder at run time except for XSD validation, which an operator may point
elsewhere with ``CBEC_SHARED``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def shared_dir() -> Path:
    """The shared reference folder: ``$CBEC_SHARED`` or ``../shared`` beside the repository."""
    env = os.environ.get("CBEC_SHARED")
    if env:
        return Path(env)
    # src/cbec -> src -> repo -> parent
    return PACKAGE_DIR.parent.parent.parent / "shared"


def ceb_spec_dir() -> Path:
    return shared_dir() / "ceb-spec"
