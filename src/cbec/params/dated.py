"""Dated parameters: each limit, rate and window of the regime, with its period in force and its source.

A clearance decision must be reproducible years later, and the law changes under it (the CBEC limits went from
2,000/20,000 to 5,000/26,000 on 2019-01-01). So nothing in the rules hard-codes a number: a rule asks for the
value "as of" the date that governs the document, and every value carries the announcement and clause it comes
from, so a decision can cite its legal basis. The shape follows OpenFisca's parameters (YAML, dated values,
references), kept deliberately small.

File format (one or more files per directory, ``*.yaml``)::

    parameters:
      - name: import.retail.single_limit        # dotted, lower case
        description: ...                         # English, with the Chinese term
        unit: CNY                                # CNY, ratio, days, months, years, flag, code ...
        values:
          - from: 2016-04-08                     # first day in force
            to: 2018-12-31                       # last day in force (inclusive); omit when still in force
            value: 2000                          # numbers are read exactly, as Decimal; quote codes ("9610")
            reference:
              source: "财关税〔2016〕18号 (CGS-2016-18)"
              clause: "..."
              note: "..."                        # optional
              confidence: sure                   # optional: sure | likely | guess

An operator directory may add parameters or replace packaged ones (``merge: replace``, the default, swaps the
whole history; ``merge: extend`` adds periods to the packaged history and must not overlap it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import pairwise
from os import PathLike
from pathlib import Path
from typing import Any, Final, TypeAlias

import yaml

__all__ = [
    "CONFIDENCE_LEVELS",
    "DatedValue",
    "Parameter",
    "ParameterError",
    "ParameterFileError",
    "ParameterNotInForce",
    "ParameterSet",
    "ParameterValue",
    "Reference",
    "UnknownParameter",
    "default_parameters",
    "packaged_parameter_dir",
]

Scalar: TypeAlias = Decimal | str | bool
ParameterValue: TypeAlias = Decimal | str | bool | tuple[Decimal | str, ...]
StrPath: TypeAlias = str | PathLike[str]

CONFIDENCE_LEVELS: Final = frozenset({"sure", "likely", "guess"})
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_PARAM_KEYS: Final = frozenset({"name", "description", "unit", "values", "merge"})
_VALUE_KEYS: Final = frozenset({"from", "to", "value", "reference"})
_REF_KEYS: Final = frozenset({"source", "clause", "note", "confidence"})
_MERGE_MODES: Final = frozenset({"replace", "extend"})


# --------------------------------------------------------------------------------------------------- errors


class ParameterError(Exception):
    """Base class, so callers can treat every parameter problem alike when they want to."""


class ParameterFileError(ParameterError, ValueError):
    """A parameter file is malformed; raised at load time so a bad file never reaches a decision."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class UnknownParameter(ParameterError, KeyError):
    """The name is not defined at all — usually a typo in a rule, which must fail loudly."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown parameter {self.name!r}"


class ParameterNotInForce(ParameterError, LookupError):
    """The parameter exists but no value covers the date: a rule is applied outside its legal period."""

    def __init__(self, name: str, on: date, periods: Sequence[DatedValue]) -> None:
        spans = ", ".join(p.period_label() for p in periods) or "none"
        super().__init__(f"parameter {name!r} has no value in force on {on.isoformat()} (periods: {spans})")
        self.name = name
        self.on = on


# --------------------------------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a value comes from, so a decision can quote its legal basis and a reviewer can re-check it."""

    source: str
    clause: str
    note: str | None = None
    confidence: str | None = None


@dataclass(frozen=True, slots=True)
class DatedValue:
    """One value with the inclusive period in which it applies (``end`` None = still in force)."""

    start: date
    end: date | None
    value: ParameterValue
    reference: Reference

    def covers(self, on: date) -> bool:
        return self.start <= on and (self.end is None or on <= self.end)

    def period_label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat() if self.end else ''}"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A named parameter and its whole history, sorted by start date, periods never overlapping."""

    name: str
    description: str
    unit: str
    values: tuple[DatedValue, ...]
    origin: str

    def value_on(self, on: date) -> DatedValue:
        for period in self.values:
            if period.covers(on):
                return period
        raise ParameterNotInForce(self.name, on, self.values)


# --------------------------------------------------------------------------------------------------- YAML


class _ExactLoader(yaml.SafeLoader):
    """Safe loader that reads YAML numbers as Decimal: 0.7 must stay 0.7, not 0.69999…, in tax arithmetic."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    assert isinstance(node, yaml.ScalarNode)
    text = str(loader.construct_scalar(node)).replace("_", "")
    if re.match(r"^[-+]?0\d", text):
        # 0110 would become 110 (or octal 72 in plain YAML): almost certainly a code that lost its quotes.
        raise yaml.constructor.ConstructorError(
            None, None, f"number {text!r} has a leading zero; quote it if it is a code", node.start_mark
        )
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        mark = node.start_mark
        raise yaml.constructor.ConstructorError(
            None, None, f"number {text!r} cannot be read exactly; quote it if it is a code", mark
        )
    return number


_ExactLoader.add_constructor("tag:yaml.org,2002:int", _construct_decimal)
_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_ExactLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise ParameterFileError(where, f"not valid YAML: {exc}") from exc


# --------------------------------------------------------------------------------------------------- parsing


def _as_date(raw: Any, where: str) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise ParameterFileError(where, f"expected a date YYYY-MM-DD, got {raw!r}")


def _text(raw: Any, where: str, *, required: bool = True) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise ParameterFileError(where, "must be a non-empty string")
    return raw.strip()


def _scalar(raw: Any, where: str) -> Scalar:
    if isinstance(raw, bool | Decimal | str):
        return raw
    raise ParameterFileError(where, f"value must be a number, string, flag or list, not {type(raw).__name__}")


def _value(raw: Any, where: str) -> ParameterValue:
    if isinstance(raw, list):
        items: list[Decimal | str] = []
        for i, item in enumerate(raw):
            scalar = _scalar(item, f"{where}[{i}]")
            if isinstance(scalar, bool):
                raise ParameterFileError(f"{where}[{i}]", "list items must be numbers or strings")
            items.append(scalar)
        return tuple(items)
    return _scalar(raw, where)


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ParameterFileError(where, f"unexpected key(s) {extra}; allowed: {sorted(allowed)}")


def _reference(raw: Any, where: str) -> Reference:
    if not isinstance(raw, dict):
        raise ParameterFileError(where, "every value needs a reference mapping with source and clause")
    _check_keys(raw, _REF_KEYS, where)
    confidence = _text(raw.get("confidence"), f"{where}.confidence", required=False)
    if confidence is not None and confidence not in CONFIDENCE_LEVELS:
        raise ParameterFileError(f"{where}.confidence", f"must be one of {sorted(CONFIDENCE_LEVELS)}")
    source = _text(raw.get("source"), f"{where}.source")
    clause = _text(raw.get("clause"), f"{where}.clause")
    assert source is not None and clause is not None
    return Reference(
        source=source,
        clause=clause,
        note=_text(raw.get("note"), f"{where}.note", required=False),
        confidence=confidence,
    )


def _dated_value(raw: Any, where: str) -> DatedValue:
    if not isinstance(raw, dict):
        raise ParameterFileError(where, "each entry of values must be a mapping")
    _check_keys(raw, _VALUE_KEYS, where)
    for key in ("from", "value", "reference"):
        if key not in raw:
            raise ParameterFileError(where, f"missing {key!r}")
    start = _as_date(raw["from"], f"{where}.from")
    end = _as_date(raw["to"], f"{where}.to") if raw.get("to") is not None else None
    if end is not None and end < start:
        raise ParameterFileError(where, f"period ends ({end}) before it starts ({start})")
    return DatedValue(start, end, _value(raw["value"], f"{where}.value"), _reference(raw["reference"], where))


def _check_periods(name: str, values: Iterable[DatedValue], where: str) -> tuple[DatedValue, ...]:
    """Sort the periods and refuse overlaps: two values in force on one day make a decision ambiguous."""
    ordered = tuple(sorted(values, key=lambda v: v.start))
    for before, after in pairwise(ordered):
        if before.end is None or before.end >= after.start:
            raise ParameterFileError(
                where,
                f"parameter {name!r}: periods {before.period_label()} and {after.period_label()} overlap",
            )
    return ordered


@dataclass(frozen=True, slots=True)
class _Entry:
    parameter: Parameter
    merge: str


def _parse_file(text: str, where: str) -> list[_Entry]:
    doc = _load_yaml(text, where)
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), list):
        raise ParameterFileError(where, "top level must be a mapping with a 'parameters' list")
    _check_keys(doc, frozenset({"parameters"}), where)
    entries: list[_Entry] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["parameters"]):
        here = f"{where}: parameters[{i}]"
        if not isinstance(raw, dict):
            raise ParameterFileError(here, "must be a mapping")
        _check_keys(raw, _PARAM_KEYS, here)
        name = _text(raw.get("name"), f"{here}.name")
        assert name is not None
        here = f"{where}: {name}"
        if not _NAME_RE.match(name):
            raise ParameterFileError(
                here, "name must be dotted lower-case words, e.g. import.retail.vat_factor"
            )
        if name in seen:
            raise ParameterFileError(here, "defined twice in the same file")
        seen.add(name)
        merge = raw.get("merge", "replace")
        if merge not in _MERGE_MODES:
            raise ParameterFileError(here, f"merge must be one of {sorted(_MERGE_MODES)}")
        raw_values = raw.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            raise ParameterFileError(here, "values must be a non-empty list")
        values = [_dated_value(v, f"{here}.values[{j}]") for j, v in enumerate(raw_values)]
        description = _text(raw.get("description"), f"{here}.description")
        unit = _text(raw.get("unit"), f"{here}.unit")
        assert description is not None and unit is not None
        parameter = Parameter(name, description, unit, _check_periods(name, values, here), where)
        entries.append(_Entry(parameter, str(merge)))
    return entries


# --------------------------------------------------------------------------------------------------- sources


def packaged_parameter_dir() -> Traversable:
    """The YAML shipped in the package; found through importlib so a wheel works like a checkout."""
    return resources.files("cbec.params").joinpath("data", "parameters")


def yaml_files(root: Traversable) -> Iterator[Traversable]:
    """Every .yaml/.yml file under ``root``, in name order (the order layers are read in)."""
    if not root.is_dir():
        return
    for child in sorted(root.iterdir(), key=lambda t: t.name):
        if child.is_dir():
            yield from yaml_files(child)
        elif child.name.endswith((".yaml", ".yml")):
            yield child


def _layer(root: Traversable, label: str) -> dict[str, _Entry]:
    """All parameters of one directory; a name defined in two of its files is an error, not a silent win."""
    layer: dict[str, _Entry] = {}
    for file in yaml_files(root):
        where = f"{label}/{file.name}"
        for entry in _parse_file(file.read_text(encoding="utf-8"), where):
            name = entry.parameter.name
            if name in layer:
                other = layer[name].parameter.origin
                raise ParameterFileError(where, f"parameter {name!r} is also defined in {other}")
            layer[name] = entry
    return layer


def _apply(base: dict[str, Parameter], layer: Mapping[str, _Entry]) -> None:
    for name, entry in layer.items():
        param = entry.parameter
        if entry.merge == "extend":
            if name not in base:
                raise ParameterFileError(param.origin, f"merge: extend, but {name!r} is not defined below")
            old = base[name]
            values = _check_periods(name, (*old.values, *param.values), param.origin)
            origin = f"{old.origin} + {param.origin}"
            base[name] = Parameter(name, param.description, param.unit, values, origin)
        else:
            base[name] = param


# --------------------------------------------------------------------------------------------------- API


class ParameterSet:
    """All parameters, immutable once loaded; rules ask it for a value as of a date."""

    __slots__ = ("_params",)

    def __init__(self, parameters: Iterable[Parameter]) -> None:
        self._params: dict[str, Parameter] = {}
        for p in parameters:
            if p.name in self._params:
                raise ParameterFileError(p.origin, f"parameter {p.name!r} given twice")
            self._params[p.name] = p

    @classmethod
    def load(cls, extra_dir: StrPath | None = None, *, include_packaged: bool = True) -> ParameterSet:
        """Packaged parameters, then the operator's directory on top (its entries replace or extend ours).

        ``include_packaged=False`` reads only ``extra_dir`` — for tests and for operators who keep a complete
        set of their own.
        """
        merged: dict[str, Parameter] = {}
        if include_packaged:
            _apply(merged, _layer(packaged_parameter_dir(), "cbec.params/data/parameters"))
        if extra_dir is not None:
            path = Path(extra_dir)
            if not path.is_dir():
                raise ParameterFileError(str(path), "extra parameter directory does not exist")
            _apply(merged, _layer(path, str(path)))
        return cls(merged.values())

    @classmethod
    def from_yaml(cls, text: str, where: str = "<string>") -> ParameterSet:
        """Parse one document — handy for tests and for what-if scenarios built in memory."""
        return cls(e.parameter for e in _parse_file(text, where))

    # ---- lookup

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params[n] for n in sorted(self._params))

    def __len__(self) -> int:
        return len(self._params)

    def names(self) -> list[str]:
        return sorted(self._params)

    def get(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise UnknownParameter(name) from None

    def history(self, name: str) -> tuple[DatedValue, ...]:
        """Every period of one parameter, oldest first — what a policy timeline or a replay needs."""
        return self.get(name).values

    def dated_value_at(self, name: str, on: date) -> DatedValue:
        return self.get(name).value_on(on.date() if isinstance(on, datetime) else on)

    def at(self, name: str, on: date) -> ParameterValue:
        """The value in force on ``on`` (a datetime is reduced to its date); raises ParameterNotInForce."""
        return self.dated_value_at(name, on).value

    def reference_at(self, name: str, on: date) -> Reference:
        """The legal source of the value in force on ``on`` — what a decision quotes as its basis."""
        return self.dated_value_at(name, on).reference

    # ---- typed helpers, so rule code gets a precise type without isinstance noise

    def decimal_at(self, name: str, on: date) -> Decimal:
        value = self.at(name, on)
        if isinstance(value, Decimal):
            return value
        raise TypeError(f"parameter {name!r} on {on.isoformat()} is {value!r}, not a number")

    def int_at(self, name: str, on: date) -> int:
        value = self.decimal_at(name, on)
        if value != value.to_integral_value():
            raise TypeError(f"parameter {name!r} on {on.isoformat()} is {value}, not a whole number")
        return int(value)

    def str_at(self, name: str, on: date) -> str:
        value = self.at(name, on)
        if isinstance(value, str):
            return value
        raise TypeError(f"parameter {name!r} on {on.isoformat()} is {value!r}, not a string")

    def bool_at(self, name: str, on: date) -> bool:
        value = self.at(name, on)
        if isinstance(value, bool):
            return value
        raise TypeError(f"parameter {name!r} on {on.isoformat()} is {value!r}, not a flag")

    def strings_at(self, name: str, on: date) -> tuple[str, ...]:
        value = self.at(name, on)
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            return tuple(str(v) for v in value)
        raise TypeError(f"parameter {name!r} on {on.isoformat()} is {value!r}, not a list of strings")


@lru_cache(maxsize=1)
def default_parameters() -> ParameterSet:
    """The packaged parameters, parsed once per process; operator overrides go through ParameterSet.load."""
    return ParameterSet.load()
