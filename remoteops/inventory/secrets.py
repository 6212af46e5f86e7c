"""Masking of secret-looking variables for display (``remoteops hosts --vars``, logs).

Passwords never belong in an inventory (loading refuses the known names), but other secrets
(API tokens, cloud keys) often live in host variables; anything shown to a person masks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SECRET_WORDS = (
    "pass", "secret", "token", "credential", "private_key", "api_key", "apikey", "access_key",
)  # fmt: skip
_NOT_SECRET = ("password_env", "identity_file")
MASK = "********"


def _is_secret(name: object) -> bool:
    lowered = str(name).lower()
    return any(w in lowered for w in _SECRET_WORDS) and name not in _NOT_SECRET


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
