"""SFTP sessions on one SSH connection, one per thread that uses them.

A paramiko ``SFTPClient`` reads its replies on the caller's thread, so two threads sharing
one would take each other's answers: the sync engine's parallel transfers each get their
own. A session whose thread has ended is handed to the next thread that asks instead of a
new one being opened: each call of a :class:`~remoteops.fleet.Fleet` (each step of a task
file) runs on new worker threads, and a new session costs three round trips (and, under
sudo, a password check) when the old one sits idle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

import paramiko


class SFTPSessions:
    """Sessions made by ``opener`` (on first use, per thread); thread-safe."""

    def __init__(self, opener: Callable[[], paramiko.SFTPClient]) -> None:
        self._opener = opener
        self._owned: dict[threading.Thread, paramiko.SFTPClient] = {}
        self._opening: dict[threading.Thread, Future[paramiko.SFTPClient]] = {}
        self._lock = threading.Lock()

    def get(self) -> paramiko.SFTPClient:
        """This thread's session: its own, one left by a thread that ended, or a new one."""
        me = threading.current_thread()
        with self._lock:
            session = self._owned.get(me) or self._adopted(me)
            opening = self._opening.pop(me, None)
        if session is not None:
            return session
        session = opening.result() if opening is not None else self._opener()
        with self._lock:
            self._owned[me] = session
        return session

    def _adopted(self, me: threading.Thread) -> paramiko.SFTPClient | None:
        """A session of an ended thread (the lock is held); closed ones are dropped."""
        for owner, session in list(self._owned.items()):
            if owner.is_alive():
                continue
            del self._owned[owner]
            if not session.sock.closed:
                self._owned[me] = session
                return session
        return None

    def prepare(self) -> None:
        """Start opening this thread's session on a helper thread, so its round trips
        overlap other work (a tar stream) instead of adding to it."""
        me = threading.current_thread()
        with self._lock:
            if me in self._owned or me in self._opening or self._adopted(me) is not None:
                return
            opening: Future[paramiko.SFTPClient] = Future()
            self._opening[me] = opening

        def open_session() -> None:
            try:
                opening.set_result(self._opener())
            except BaseException as exc:  # handed to the thread that asked, by get()
                opening.set_exception(exc)

        threading.Thread(target=open_session, name="remoteops-sftp", daemon=True).start()

    def lost_here(self) -> bool:
        """True if this thread's session is closed (the server or a cancel closed it)."""
        with self._lock:
            session = self._owned.get(threading.current_thread())
        return session is not None and session.sock.closed


__all__ = ["SFTPSessions"]
