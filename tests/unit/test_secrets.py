"""Masking of secret-looking variables for display."""

from __future__ import annotations

from remoteops.inventory.secrets import MASK, mask_secrets


def test_secret_names_are_masked_at_any_depth_and_others_kept() -> None:
    masked = mask_secrets(
        {
            "api_token": "abc",
            "password_env": "DB_PASSWORD",
            "identity_file": "~/.ssh/id_ed25519",
            "cloud": {"access_key": "AKIA", "region": "eu"},
            "list": [{"client_secret": "s"}, "plain"],
            "port": 22,
            "empty_pass": None,
        }
    )
    assert masked == {
        "api_token": MASK,
        "password_env": "DB_PASSWORD",
        "identity_file": "~/.ssh/id_ed25519",
        "cloud": {"access_key": MASK, "region": "eu"},
        "list": [{"client_secret": MASK}, "plain"],
        "port": 22,
        "empty_pass": None,
    }
