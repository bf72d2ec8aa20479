"""Messages given as bytes or as where they lie come out the same, in the same (arrival) order."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cbec.engine.inputs import MessageFile, count_inputs, iter_inputs, iter_message_files, read_messages

FILES = {
    "CEB621Message/00000002.xml": b"<b/>",
    "CEB311Message/00000001.xml": b"<a/>",
    "CEB311Message/00000003.xml": b"<c>\xe4\xb8\xad</c>",
    "CEB411Message/notes.txt": b"not a message",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("kind", ["folder", "archive"])
def test_files_read_as_the_bytes_given(kind: str, request: pytest.FixtureRequest) -> None:
    source: Path = request.getfixturevalue(kind)
    as_bytes = list(iter_inputs(source))
    places = list(iter_message_files(source))
    # by the file name first, across the folders: the generator numbers files in arrival order
    assert [name for name, _ in as_bytes] == [
        "CEB311Message/00000001.xml",
        "CEB621Message/00000002.xml",
        "CEB311Message/00000003.xml",
    ]
    assert [name for name, _ in places] == [name for name, _ in as_bytes]
    assert all(isinstance(where, MessageFile) for _, where in places)
    assert read_messages([where for _, where in places]) == [data for _, data in as_bytes]
    assert count_inputs(source) == 3


def test_bytes_and_places_mixed(archive: Path, folder: Path) -> None:
    items: list[bytes | MessageFile] = [
        b"<x/>",
        MessageFile(str(archive), "CEB311Message/00000001.xml"),
        MessageFile(str(folder / "CEB621Message/00000002.xml")),
    ]
    assert read_messages(items) == [b"<x/>", b"<a/>", b"<b/>"]


def test_one_file(folder: Path) -> None:
    path = folder / "CEB311Message" / "00000003.xml"
    assert list(iter_inputs(path)) == [("00000003.xml", FILES["CEB311Message/00000003.xml"])]
    assert read_messages([where for _, where in iter_message_files(path)]) == [
        FILES["CEB311Message/00000003.xml"]
    ]
