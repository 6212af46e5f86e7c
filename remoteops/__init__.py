"""remoteops: run commands and move files across fleets of hosts in parallel."""

__version__ = "0.1.0"
