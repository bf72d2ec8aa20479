"""Rules data: dated parameters (limits, rates, windows with their legal sources) and code tables.

Everything the rules treat as law or as an official code list lives here as YAML data, so a policy change is
a data change with a date and a citation, not a code change. docs/parameters.md describes the file formats and
how an operator adds or overrides entries.
"""

from cbec.params.codes import (
    CodeEntry,
    CodeTable,
    CodeTableFileError,
    UnknownCode,
    UnknownCodeTable,
    code_table,
    list_tables,
    load_code_tables,
)
from cbec.params.dated import (
    DatedValue,
    Parameter,
    ParameterError,
    ParameterFileError,
    ParameterNotInForce,
    ParameterSet,
    ParameterValue,
    Reference,
    UnknownParameter,
    default_parameters,
)

__all__ = [
    "CodeEntry",
    "CodeTable",
    "CodeTableFileError",
    "DatedValue",
    "Parameter",
    "ParameterError",
    "ParameterFileError",
    "ParameterNotInForce",
    "ParameterSet",
    "ParameterValue",
    "Reference",
    "UnknownCode",
    "UnknownCodeTable",
    "UnknownParameter",
    "code_table",
    "default_parameters",
    "list_tables",
    "load_code_tables",
]
