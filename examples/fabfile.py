"""An ordinary Fabric 3 fabfile: ``fab -H web1,web2 deploy --tag v2`` runs it one host after
another; ``remoteops fab -f examples/fabfile.py -H web deploy --tag v2`` runs it unchanged on
every host at once, on remoteops' own host-key-checked connections.

Each host gets its own folder under ``--root`` (named by the host as given on the command
line: ``c.original_host``), so hosts that share a file system (the playground's) keep apart.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fabric import task

HERE = Path(__file__).resolve().parent
PAGE = HERE / "site" / "index.html.j2"


@task
def deploy(c, root="/var/tmp/fab-example", tag="v1"):
    """Release TAG under ROOT/<host>/releases/TAG and point ROOT/<host>/current at it."""
    home = f"{root}/{c.original_host}"
    release = f"{home}/releases/{tag}"
    c.run(f"mkdir -p {release}")
    c.put(str(PAGE), f"{release}/index.html")
    with c.cd(release):
        c.run(f"echo {tag} > VERSION")
        with c.prefix("export GREETING=hello"):
            c.run('echo "$GREETING from $(pwd)" > greeting.txt')
    c.run(f"ln -sfn {release} {home}/current")
    # sudo as the login user's root: a root-owned stamp the deploy user cannot forge
    c.sudo(f"sh -c 'id -un > {home}/deployed-by && chmod 0444 {home}/deployed-by'")
    with tempfile.TemporaryDirectory() as folder:
        fetched = Path(folder) / "VERSION"
        c.get(f"{home}/current/VERSION", str(fetched))
        c.run(f"echo fetched {fetched.read_text().strip()} >> {home}/log.txt")
    with c.sftp().open(f"{home}/sftp.txt", "w") as handle:
        handle.write(f"written over sftp for {tag}\n")


@task
def whoami(c):
    """Show the login user, and the client port of this task's SSH connection."""
    c.run("echo user=$(id -un) port=$(echo $SSH_CONNECTION | cut -d' ' -f2)")


@task
def fail(c, code=3):
    """Exit with CODE: how a failed command ends a host."""
    c.run(f"exit {code}")
