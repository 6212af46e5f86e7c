"""Servers remoteops runs itself: ``remoteops serve ftp`` (for quick distribution and tests)."""
