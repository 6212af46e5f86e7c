"""``python -m remoteops``."""

from remoteops.cli import main

main()
