"""remoteops: run commands and move files across fleets of hosts in parallel."""
