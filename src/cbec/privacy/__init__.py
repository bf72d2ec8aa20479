"""Personal data (个人信息): encryption at rest, masking for display and logs, and who may see it in clear.

Pure: no database, no web.  The store uses the keys and ciphers (``cbec.store.data_key``, the inbox codec
``zlib-gcm``); the HTTP layer and the console use :func:`present` on every record they show and audit each
unmasked read with ``cbec.store.pii_audit``; the CLI and the service call :func:`install_log_redaction` at
start.  See ``docs/privacy.md``.
"""

from __future__ import annotations

from cbec.privacy.access import (
    ROLES,
    UNMASKED_ROLES,
    UnmaskRefused,
    View,
    may_unmask,
    personal_fields,
    present,
    unmasking_role,
)
from cbec.privacy.crypto import DataIntegrityError, decrypt_text, encrypt_text, open_sealed, seal
from cbec.privacy.fields import PERSONAL_FIELDS, Kind, kind_of
from cbec.privacy.keys import DataKeyError, Keyring, load_keyring
from cbec.privacy.logs import RedactingFilter, install_log_redaction
from cbec.privacy.masking import mask_field, mask_record, mask_value, mask_xml, mask_xml_bytes, redact_text

__all__ = [
    "PERSONAL_FIELDS",
    "ROLES",
    "UNMASKED_ROLES",
    "DataIntegrityError",
    "DataKeyError",
    "Keyring",
    "Kind",
    "RedactingFilter",
    "UnmaskRefused",
    "View",
    "decrypt_text",
    "encrypt_text",
    "install_log_redaction",
    "kind_of",
    "load_keyring",
    "mask_field",
    "mask_record",
    "mask_value",
    "mask_xml",
    "mask_xml_bytes",
    "may_unmask",
    "open_sealed",
    "personal_fields",
    "present",
    "redact_text",
    "seal",
    "unmasking_role",
]
