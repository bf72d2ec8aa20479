"""Shared test fixtures: where the official CEB material lives, and the list of its sample messages.

The official XSDs and samples are not part of the repository; they sit in the shared reference folder beside
the checkout (``$CBEC_SHARED`` or ``../shared``).  Tests that need them are skipped, with the reason, when
it is absent.

Any test taking a ``sample_path`` argument is run once per official sample message (import and export).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAMILIES = ("import", "export")


def shared_dir() -> Path:
    """``$CBEC_SHARED``, else ``../shared`` beside the repository (repo /work/main -> /work/shared)."""
    env = os.environ.get("CBEC_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def ceb_spec_dir() -> Path:
    return shared_dir() / "ceb-spec"


def _missing_reason() -> str:
    return (
        f"official CEB spec folder not found at {ceb_spec_dir()} "
        "(set CBEC_SHARED to the shared reference folder that contains ceb-spec/)"
    )


def sample_paths(family: str | None = None) -> list[Path]:
    """The official sample messages, sorted by family then file name (empty when the folder is absent)."""
    families = FAMILIES if family is None else (family,)
    out: list[Path] = []
    for fam in families:
        folder = ceb_spec_dir() / "samples" / fam
        if folder.is_dir():
            out.extend(sorted(folder.glob("*.xml")))
    return out


def sample_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sample_path" in metafunc.fixturenames:
        paths = sample_paths()
        if paths:
            metafunc.parametrize("sample_path", paths, ids=[sample_id(p) for p in paths])
        else:
            metafunc.parametrize(
                "sample_path",
                [pytest.param(None, marks=pytest.mark.skip(reason=_missing_reason()))],
                ids=["none"],
            )


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared reference folder; skips the test when it (or its ceb-spec/) is absent."""
    if not ceb_spec_dir().is_dir():
        pytest.skip(_missing_reason())
    return shared_dir()


@pytest.fixture(scope="session")
def spec_dir(shared: Path) -> Path:
    return shared / "ceb-spec"


@pytest.fixture(scope="session")
def xsd_dir(spec_dir: Path) -> Path:
    folder = spec_dir / "xsd"
    if not folder.is_dir():
        pytest.skip(f"official XSDs not found at {folder}")
    return folder


@pytest.fixture(scope="session")
def import_samples(spec_dir: Path) -> list[Path]:
    paths = sample_paths("import")
    if not paths:
        pytest.skip(f"no official import samples in {spec_dir / 'samples' / 'import'}")
    return paths


@pytest.fixture(scope="session")
def export_samples(spec_dir: Path) -> list[Path]:
    paths = sample_paths("export")
    if not paths:
        pytest.skip(f"no official export samples in {spec_dir / 'samples' / 'export'}")
    return paths


@pytest.fixture(scope="session")
def all_samples(import_samples: list[Path], export_samples: list[Path]) -> list[Path]:
    return [*import_samples, *export_samples]


@pytest.fixture(scope="session")
def load_sample(spec_dir: Path) -> Callable[[str], bytes]:
    """``load_sample("CEB311")`` -> the raw bytes of the official sample (either family), BOM and all."""

    def load(code: str) -> bytes:
        name = code if code.endswith("Message") else f"{code}Message"
        for fam in FAMILIES:
            path = spec_dir / "samples" / fam / f"{name}.xml"
            if path.is_file():
                return path.read_bytes()
        pytest.skip(f"official sample {name}.xml not found under {spec_dir / 'samples'}")

    return load


@pytest.fixture(scope="session")
def sample_text(load_sample: Callable[[str], bytes]) -> Callable[[str], str]:
    """``sample_text("CEB311")`` -> the sample as text, without its UTF-8 BOM: the base for string edits."""

    def text(code: str) -> str:
        return load_sample(code).decode("utf-8-sig")

    return text
