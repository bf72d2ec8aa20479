"""Enterprise filing (备案) and rights: who may send which CEB messages under which codes, and read what.

The domain core of least privilege.  It takes plain data (a :class:`Principal`, a message type, document
heads as mappings) and answers with a :class:`Decision` value; it imports nothing from the web, the database
or the command line, so the HTTP layer, the console and the tests call the same functions.

* :mod:`~cbec.rights.identity` — customs codes and USCCs (GB 32100-2015 check character);
* :mod:`~cbec.rights.roles` — roles and where each role's code sits in a document;
* :mod:`~cbec.rights.send` — who may send which message type, and which fields must be the sender's;
* :mod:`~cbec.rights.read` — who may read which document;
* :mod:`~cbec.rights.credentials` — API keys (format, hash, 401 reasons);
* :mod:`~cbec.rights.certificates` — signing certificates (RSA, SM2) as uploaded.

See ``docs/enterprises.md``.
"""

from __future__ import annotations

from cbec.rights.credentials import (
    NO_CREDENTIAL,
    IssuedKey,
    StoredKey,
    check_api_key,
    key_prefix,
    new_api_key,
)
from cbec.rights.decision import ALLOWED, Decision
from cbec.rights.identity import CodeKind, FilingError, classify_code, valid_customs_code, valid_uscc
from cbec.rights.principal import Grant, GrantState, Principal
from cbec.rights.read import ReadScope, authorize_read, district_covers, read_scope
from cbec.rights.roles import CAPACITY_FIELDS, PARTY_FIELDS, Role, parse_role
from cbec.rights.send import SEND_RULES, authorize_send, normalize_message_type, sendable_message_types

__all__ = [
    "ALLOWED",
    "CAPACITY_FIELDS",
    "NO_CREDENTIAL",
    "PARTY_FIELDS",
    "SEND_RULES",
    "CodeKind",
    "Decision",
    "FilingError",
    "Grant",
    "GrantState",
    "IssuedKey",
    "Principal",
    "ReadScope",
    "Role",
    "StoredKey",
    "authorize_read",
    "authorize_send",
    "check_api_key",
    "classify_code",
    "district_covers",
    "key_prefix",
    "new_api_key",
    "normalize_message_type",
    "parse_role",
    "read_scope",
    "sendable_message_types",
    "valid_customs_code",
    "valid_uscc",
]
