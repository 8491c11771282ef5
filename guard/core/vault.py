"""Signing secrets (vendors' and webhook subscribers'), encrypted at rest: they must be usable to sign or verify, so
they cannot be hashed.

The key is derived from the audit key (GUARD_AUDIT_KEY, kept outside the database) with HKDF under a label of
its own, so whoever reads the database alone cannot read the secrets. Changing the audit key makes the
stored secrets unreadable: the sources and webhook subscriptions must then be added again.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"guard source secrets v1"
_PREFIX = "v1:"
_NONCE = 12


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with this audit key (it was changed, or the row was altered)."""


def _cipher(audit_key: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(audit_key)
    return AESGCM(key)


def seal(audit_key: bytes, name: str, secret: str) -> str:
    """The secret encrypted for `name` (bound to it: a box moved to another owner will not open)."""
    nonce = os.urandom(_NONCE)
    sealed = _cipher(audit_key).encrypt(nonce, secret.encode("utf-8"), name.encode("utf-8"))
    return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def unseal(audit_key: bytes, name: str, box: str) -> str:
    """The secret sealed for `name`, or SecretUnreadable."""
    if not box.startswith(_PREFIX):
        raise SecretUnreadable("unknown secret format")
    try:
        raw = base64.b64decode(box[len(_PREFIX):], validate=True)
        plain = _cipher(audit_key).decrypt(raw[:_NONCE], raw[_NONCE:], name.encode("utf-8"))
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise SecretUnreadable("the secret cannot be decrypted with this audit key") from exc
    return plain.decode("utf-8")
