"""Code tables (代码表): currencies, countries, units, modes, receipt statuses, error codes.

Codes are what the CEB messages carry, so they stay strings exactly as sent: ``"007"`` is a unit and ``7``
is not, ``"0110"`` is general trade. Each table names its source and a confidence (sure / likely / guess, as
in the regime reference), because several public tables disagree and a reviewer has to know which entries
were seen in the official spec and which came from connectors. Tables are read once, cached, immutable.

File format (``*.yaml`` in ``data/codes/`` or an operator directory)::

    tables:
      - name: currency                  # the name code_table() takes
        title_en: Customs currency code
        title_zh: 海关币制代码
        source: "..."
        confidence: likely              # default for entries without their own
        note: "..."                     # optional
        merge: replace                  # operator files only: replace (default) or extend
        entries:
          - {code: "142", name_zh: 人民币, name_en: Chinese yuan, confidence: sure, attrs: {iso: CNY}}

An operator table with ``merge: replace`` supersedes ours entirely (use it to load the authoritative customs
parameter library); ``merge: extend`` adds entries and overrides same-code ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import yaml

from cbec.params.dated import yaml_files

__all__ = [
    "CodeEntry",
    "CodeTable",
    "CodeTableFileError",
    "UnknownCode",
    "UnknownCodeTable",
    "code_table",
    "list_tables",
    "load_code_tables",
    "packaged_codes_dir",
]

StrPath: TypeAlias = str | PathLike[str]

_CONFIDENCE: Final = frozenset({"sure", "likely", "guess"})
_TABLE_KEYS: Final = frozenset(
    {"name", "title_en", "title_zh", "source", "confidence", "note", "entries", "merge"}
)
_ENTRY_KEYS: Final = frozenset({"code", "name_zh", "name_en", "confidence", "note", "attrs"})
_MERGE_MODES: Final = frozenset({"replace", "extend"})
# libyaml's loader is ~10x faster on the 150-entry error table; same YAML 1.1 safe semantics as the pure one.
_SAFE_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CodeTableFileError(ValueError):
    """A code-table file is malformed; raised at load so a broken table never validates a message."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class UnknownCodeTable(KeyError):
    """Asked for a table nobody ships — a typo in calling code, so it should fail at once."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown code table {self.name!r}; known tables: {', '.join(self.known)}"


class UnknownCode(KeyError):
    """A code that is not in the table; ``CodeTable.get`` returns None instead when absence is expected."""

    def __init__(self, table: str, code: str) -> None:
        super().__init__(code)
        self.table = table
        self.code = code

    def __str__(self) -> str:
        return f"code {self.code!r} is not in table {self.table!r}"


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One code with its Chinese and English names; ``attrs`` holds table-specific extras (ISO, family)."""

    code: str
    name_zh: str
    name_en: str
    confidence: str
    note: str | None = None
    attrs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def attr(self, key: str) -> str | None:
        return self.attrs.get(key)


@dataclass(frozen=True, slots=True)
class CodeTable:
    """An immutable table keyed by code string, with its provenance."""

    name: str
    title_en: str
    title_zh: str
    source: str
    confidence: str
    note: str | None
    origin: str
    _entries: Mapping[str, CodeEntry]

    def contains(self, code: str) -> bool:
        return code in self._entries

    def get(self, code: str) -> CodeEntry | None:
        return self._entries.get(code)

    def __getitem__(self, code: str) -> CodeEntry:
        try:
            return self._entries[code]
        except KeyError:
            raise UnknownCode(self.name, code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def __iter__(self) -> Iterator[CodeEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def codes(self) -> tuple[str, ...]:
        return tuple(self._entries)

    @property
    def entries(self) -> tuple[CodeEntry, ...]:
        return tuple(self._entries.values())


# --------------------------------------------------------------------------------------------------- parsing


def _text(raw: Any, where: str, *, required: bool = True) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise CodeTableFileError(where, "must be a non-empty string")
    return raw.strip()


def _req(raw: Any, where: str) -> str:
    value = _text(raw, where)
    assert value is not None
    return value


def _confidence(raw: Any, where: str, default: str | None) -> str:
    if raw is None and default is not None:
        return default
    value = _req(raw, where)
    if value not in _CONFIDENCE:
        raise CodeTableFileError(where, f"confidence must be one of {sorted(_CONFIDENCE)}")
    return value


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise CodeTableFileError(where, f"unexpected key(s) {extra}; allowed: {sorted(allowed)}")


def _entry(raw: Any, where: str, default_confidence: str) -> CodeEntry:
    if not isinstance(raw, dict):
        raise CodeTableFileError(where, "entry must be a mapping")
    _check_keys(raw, _ENTRY_KEYS, where)
    code = raw.get("code")
    if not isinstance(code, str) or not code or code != code.strip():
        # YAML 1.1 turns 007 into 7 and 0110 into 72 (octal): only a quoted string keeps the code intact.
        raise CodeTableFileError(where, f"code must be a quoted non-empty string without spaces: {code!r}")
    attrs_raw = raw.get("attrs") or {}
    if not isinstance(attrs_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attrs_raw.items()
    ):
        raise CodeTableFileError(f"{where}.attrs", "attrs must map strings to strings")
    return CodeEntry(
        code=code,
        name_zh=_req(raw.get("name_zh"), f"{where}.name_zh"),
        name_en=_req(raw.get("name_en"), f"{where}.name_en"),
        confidence=_confidence(raw.get("confidence"), f"{where}.confidence", default_confidence),
        note=_text(raw.get("note"), f"{where}.note", required=False),
        attrs=MappingProxyType(dict(attrs_raw)),
    )


@dataclass(frozen=True, slots=True)
class _Parsed:
    table: CodeTable
    merge: str


def _table(raw: Any, where: str) -> _Parsed:
    if not isinstance(raw, dict):
        raise CodeTableFileError(where, "table must be a mapping")
    _check_keys(raw, _TABLE_KEYS, where)
    name = _req(raw.get("name"), f"{where}.name")
    where = f"{where} ({name})"
    confidence = _confidence(raw.get("confidence"), f"{where}.confidence", None)
    merge = raw.get("merge", "replace")
    if merge not in _MERGE_MODES:
        raise CodeTableFileError(where, f"merge must be one of {sorted(_MERGE_MODES)}")
    raw_entries = raw.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise CodeTableFileError(where, "entries must be a non-empty list")
    entries: dict[str, CodeEntry] = {}
    for i, item in enumerate(raw_entries):
        entry = _entry(item, f"{where}.entries[{i}]", confidence)
        if entry.code in entries:
            raise CodeTableFileError(where, f"code {entry.code!r} appears twice")
        entries[entry.code] = entry
    table = CodeTable(
        name=name,
        title_en=_req(raw.get("title_en"), f"{where}.title_en"),
        title_zh=_req(raw.get("title_zh"), f"{where}.title_zh"),
        source=_req(raw.get("source"), f"{where}.source"),
        confidence=confidence,
        note=_text(raw.get("note"), f"{where}.note", required=False),
        origin=where,
        _entries=MappingProxyType(entries),
    )
    return _Parsed(table, str(merge))


def _parse_file(text: str, where: str) -> list[_Parsed]:
    try:
        doc = yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise CodeTableFileError(where, f"not valid YAML: {exc}") from exc
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), list):
        raise CodeTableFileError(where, "top level must be a mapping with a 'tables' list")
    _check_keys(doc, frozenset({"tables"}), where)
    return [_table(t, f"{where}: tables[{i}]") for i, t in enumerate(doc["tables"])]


# --------------------------------------------------------------------------------------------------- loading


def packaged_codes_dir() -> Traversable:
    """The tables shipped with the package, found through importlib so a wheel works like a checkout."""
    return resources.files("cbec.params").joinpath("data", "codes")


def _layer(root: Traversable, label: str) -> dict[str, _Parsed]:
    layer: dict[str, _Parsed] = {}
    for file in yaml_files(root):
        for parsed in _parse_file(file.read_text(encoding="utf-8"), f"{label}/{file.name}"):
            name = parsed.table.name
            if name in layer:
                other = layer[name].table.origin
                raise CodeTableFileError(parsed.table.origin, f"table {name!r} also defined in {other}")
            layer[name] = parsed
    return layer


def _extend(base: CodeTable, extra: CodeTable) -> CodeTable:
    merged = dict(base._entries)
    merged.update(extra._entries)
    return CodeTable(
        name=base.name,
        title_en=base.title_en,
        title_zh=base.title_zh,
        source=f"{base.source}; extended by {extra.source}",
        confidence=base.confidence,
        note=base.note,
        origin=f"{base.origin} + {extra.origin}",
        _entries=MappingProxyType(merged),
    )


@lru_cache(maxsize=8)
def _load(extra_dir: str | None) -> Mapping[str, CodeTable]:
    tables = {name: p.table for name, p in _layer(packaged_codes_dir(), "cbec.params/data/codes").items()}
    if extra_dir is not None:
        path = Path(extra_dir)
        if not path.is_dir():
            raise CodeTableFileError(extra_dir, "extra code-table directory does not exist")
        for name, parsed in _layer(path, extra_dir).items():
            if parsed.merge == "extend":
                if name not in tables:
                    raise CodeTableFileError(
                        parsed.table.origin, f"merge: extend, but no table {name!r} below"
                    )
                tables[name] = _extend(tables[name], parsed.table)
            else:
                tables[name] = parsed.table
    return MappingProxyType(dict(sorted(tables.items())))


def _key(extra_dir: StrPath | None) -> str | None:
    return None if extra_dir is None else str(Path(extra_dir).resolve())


def load_code_tables(extra_dir: StrPath | None = None) -> Mapping[str, CodeTable]:
    """All tables by name: packaged ones, with an operator directory's tables on top. Cached per directory."""
    return _load(_key(extra_dir))


def code_table(name: str, extra_dir: StrPath | None = None) -> CodeTable:
    """One table by name, e.g. ``code_table("currency").contains("142")``."""
    tables = load_code_tables(extra_dir)
    try:
        return tables[name]
    except KeyError:
        raise UnknownCodeTable(name, list(tables)) from None


def list_tables(extra_dir: StrPath | None = None) -> list[str]:
    """Names of all tables, sorted — for documentation, the console and completeness tests."""
    return list(load_code_tables(extra_dir))
