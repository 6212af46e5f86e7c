"""Secrets in inventories: which variables may not hold one, and masking for display.

Passwords never belong in an inventory: loading refuses any variable named like one
(:func:`looks_like_password`), at any depth of a value, whatever its case. Other secrets (API
tokens, cloud keys) often live in host variables, so anything shown to a person masks them
(:func:`mask_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from remoteops.inventory.model import SECRET_VARS

_SECRET_WORDS = (
    "pass", "secret", "token", "credential", "private_key", "api_key", "apikey", "access_key",
)  # fmt: skip
_NOT_SECRET = ("identity_file",)
MASK = "********"

#: How a password's name ends: ``db_password``, ``sudoPasswd``, ``PASSWORD2``, and ``pass`` as a
#: word of its own (``ansible_ssh_pass``, ``sshPass``), not inside another (``bypass``).
_PASSWORD_NAME = re.compile(
    r"(?i:passwords?|passwds?|passphrases?)[0-9_-]*$"
    r"|(?:^|[^A-Za-z])(?i:pass)[0-9_-]*$"
    r"|(?<=[a-z0-9])Pass[0-9_-]*$"
)
_CONNECTION_SECRETS = frozenset(name.lower() for name in SECRET_VARS)
#: How Ansible Vault text starts: a value encrypted that way is not a readable password.
VAULT_HEADER = "$ANSIBLE_VAULT;"


def looks_like_password(name: object, value: Any = None) -> bool:
    """Whether a variable with this name (any case) would hold a password in clear.

    Names of environment variables (``password_env``) and settings about passwords
    (``telnet_password_prompt``) end otherwise and pass. A value encrypted with Ansible Vault
    (``!vault``) passes too, except under the connection names (``ansible_password``...), which
    remoteops would be expected to use and cannot decrypt.
    """
    text = str(name)
    if text.lower() in _CONNECTION_SECRETS:
        return True
    if _PASSWORD_NAME.search(text) is None:
        return False
    return not (isinstance(value, str) and value.startswith(VAULT_HEADER))


def _is_secret(name: object) -> bool:
    lowered = str(name).lower()
    if lowered in _NOT_SECRET or lowered.endswith("_env"):  # a path, a variable's name
        return False
    return any(w in lowered for w in _SECRET_WORDS)


def _mask_value(value: Any) -> Any:
    """Mask inside nested mappings and lists too: ``aws: {secret_key: ...}`` is a secret."""
    if isinstance(value, Mapping):
        return mask_secrets(value)
    if isinstance(value, (list, tuple)):
        return [_mask_value(item) for item in value]
    return value


def mask_secrets(variables: Mapping[Any, Any]) -> dict[Any, Any]:
    """Hide values whose names suggest a secret; env var names and key paths are not secrets."""
    return {
        name: MASK if _is_secret(name) and value is not None else _mask_value(value)
        for name, value in variables.items()
    }
