"""Where the messages to clear come from: a directory of .xml files, a zip archive of them, or one file.

A message can be handed on as its bytes (:func:`iter_inputs`) or as the place it lies
(:func:`iter_message_files`).  The clearer's decoding workers read a :class:`MessageFile` themselves, so a
corpus's bytes go from the page cache straight to the process that parses them: sent as bytes, every byte
was read by the clearing process, pickled, copied through a pipe and copied out again, about 2.8 CPU seconds
of the clearing process per 1.2 GB (the clearing process being the one that sets the pace).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


def count_inputs(path: Path) -> int:
    """How many messages :func:`iter_inputs` will give, without reading them (for progress bars)."""
    return sum(1 for _ in iter_message_files(path))


def _arrival(name: str) -> tuple[str, str]:
    """Files are taken in the order of their names across sub-folders (then by folder), so a corpus whose
    files are numbered in arrival order, e.g. ``CEB311Message/0000007.xml``, is cleared in that order."""
    return name.rsplit("/", 1)[-1], name


@dataclass(frozen=True, slots=True)
class MessageFile:
    """A message still where it lies: a file, or a ``member`` of the zip archive at ``path``."""

    path: str
    member: str | None = None


def read_messages(items: Sequence[bytes | MessageFile]) -> list[bytes]:
    """The bytes of messages given either way; each zip archive among them is opened once (its directory
    of members is read on opening, which for a large archive costs more than reading one member)."""
    archives: dict[str, zipfile.ZipFile] = {}
    try:
        out = []
        for item in items:
            if not isinstance(item, MessageFile):
                out.append(item)
            elif item.member is None:
                out.append(Path(item.path).read_bytes())
            else:
                if item.path not in archives:
                    archives[item.path] = zipfile.ZipFile(item.path)
                out.append(archives[item.path].read(item.member))
        return out
    finally:
        for archive in archives.values():
            archive.close()


def iter_message_files(path: Path) -> Iterator[tuple[str, MessageFile]]:
    """(name, where) of every .xml file under a directory, or in a zip archive, in arrival (name) order."""
    if path.is_dir():
        names = sorted((p.relative_to(path).as_posix() for p in path.rglob("*.xml")), key=_arrival)
        for name in names:
            yield name, MessageFile(str(path / name))
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = sorted((n for n in zf.namelist() if n.lower().endswith(".xml")), key=_arrival)
        for name in names:
            yield name, MessageFile(str(path), name)
    else:
        yield path.name, MessageFile(str(path))


def iter_inputs(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every .xml file under a directory, or in a zip archive, in arrival (name) order."""
    if zipfile.is_zipfile(path) and not path.is_dir():
        with zipfile.ZipFile(path) as zf:
            for name, where in iter_message_files(path):
                yield name, zf.read(where.member or name)
        return
    for name, where in iter_message_files(path):
        yield name, Path(where.path).read_bytes()
