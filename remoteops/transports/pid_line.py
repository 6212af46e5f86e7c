"""The line that tells the controller the PID of a command's shell on the host.

A command is started as ``echo MARK$$ >&2; COMMAND`` (:func:`marked`): the shell is the leader
of a process group (sshd's session, a container's ``exec``), so that PID lets a timeout or
Ctrl-C kill the whole group on the host, where closing the channel or killing the local
client (``podman exec``) leaves it running. :class:`PidLine` takes the line back out of the
head of stderr, so the command's own output arrives as it wrote it.
"""

from __future__ import annotations

#: Marks the line that reports the remote shell's PID.
PID_MARK = b"REMOTEOPS-PID="
#: stderr bytes held while waiting for that line before giving up on it.
HEAD_LIMIT = 4096


def marked(command: str) -> str:
    """``command`` preceded by the line that reports its shell's PID (see :class:`PidLine`)."""
    return f"echo {PID_MARK.decode()}$$ >&2; {command}"


class PidLine:
    """Finds the PID line at the head of a stream and strips it out."""

    def __init__(self) -> None:
        self.head = b""  # the start of the stream, until the PID line has been seen
        self.pending = True
        self.pid: int | None = None

    def take(self, data: bytes) -> bytes:
        """What of ``data`` belongs to the command: the PID line is held back until whole,
        then removed; a head of :data:`HEAD_LIMIT` bytes without it is given up on."""
        if not self.pending:
            return data
        self.head += data
        at = self.head.find(PID_MARK)
        if at < 0:
            if len(self.head) <= HEAD_LIMIT:
                return b""
            return self.release()
        end = self.head.find(b"\n", at)
        if end < 0:
            return b""  # the rest of the line is still on its way
        digits = self.head[at + len(PID_MARK) : end].strip()  # a pty ends it with \r\n
        self.pid = int(digits) if digits.isdigit() else None
        rest = self.head[:at] + self.head[end + 1 :]
        self.head, self.pending = b"", False
        return rest

    def release(self) -> bytes:
        """Stop looking (the stream ended, or no PID line came): what was held."""
        head, self.head, self.pending = self.head, b"", False
        return head


__all__ = ["HEAD_LIMIT", "PID_MARK", "PidLine", "marked"]
