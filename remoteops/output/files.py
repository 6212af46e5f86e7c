"""One file per host, as ``pssh -o DIR -e DIR`` and ``clush --outdir/--errdir`` write them.

``DIR/web01`` holds exactly the bytes web01's command wrote to stdout (or stderr), streamed to
disk as they arrive: the file is whole even past the executor's capture limit, and memory stays
flat. Unlike pssh, which opens ``DIR/web01`` for writing when the host starts (truncating an
earlier run's file at once), the bytes go to a temporary ``DIR/.web01.XXXXXX.part`` and are
renamed over the real name only when the command ran to its end: a reader of ``DIR/web01``
sees the previous file or the new one, never half of one, whatever happens to the run.

A host whose command did not run to its end (unreachable, timed out, interrupted) gets no file,
and an earlier run's file of that name is removed, so that, as after pssh, every file in DIR
comes from this run. Its JSON result (``json_results``) is written in every case, and says why.

Host names become file names unchanged (pssh's naming), so a name that could leave DIR or hide
in it (``/``, a leading ``.``, NUL, more than 255 bytes) is refused before anything starts; the
leading-dot rule is also what keeps the temporary names apart from every host's real name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from remoteops.errors import ConfigurationError
from remoteops.executor import NullListener
from remoteops.results import HostResult, RunReport, Status
from remoteops.transports.base import STDERR, STDOUT

#: Suffix of a host's JSON result file, beside its output file.
JSON_SUFFIX = ".json"
#: Longest file name on ext4, XFS, btrfs and tmpfs (NAME_MAX), in bytes.
_NAME_MAX = 255


def check_file_names(hosts: Iterable[str], *, json_results: bool = False) -> None:
    """Refuse host names that cannot be used unchanged as file names inside one folder.

    Raises :class:`~remoteops.errors.ConfigurationError` naming the first bad host.
    """
    names = list(hosts)
    suffix = JSON_SUFFIX if json_results else ""
    for name in names:
        reason = _unusable(name, len(suffix.encode()))
        if reason is not None:
            raise ConfigurationError(
                f"host name {name!r} cannot name a file in the output folder: it {reason}; "
                "select the host under another name (an inventory alias with an 'address')"
            )
    if json_results:
        taken = set(names)
        for name in names:
            if name + JSON_SUFFIX in taken:
                raise ConfigurationError(
                    f"hosts {name!r} and {name + JSON_SUFFIX!r} would share the file "
                    f"{name + JSON_SUFFIX!r} (the first's JSON result, the second's output); "
                    "drop --json-results or one of the hosts"
                )


def _unusable(name: str, suffix_bytes: int) -> str | None:
    if not name:
        return "is empty"
    if "/" in name:
        return "holds '/', which would write outside the folder"
    if "\0" in name:
        return "holds a NUL character"
    if name.startswith("."):
        return "starts with '.' (hidden, and '..' is the parent folder)"
    if len(name.encode("utf-8", errors="surrogateescape")) + suffix_bytes > _NAME_MAX:
        return f"is longer than {_NAME_MAX - suffix_bytes} bytes"
    return None


def _usable_folder(folder: Path) -> None:
    """``folder`` made if missing, and shown to take a new file: a read-only or foreign folder
    is refused before any host runs, not found out by each host after its command ran."""
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"{folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"cannot create {folder}: {exc.strerror}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".remoteops.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ConfigurationError(f"cannot write in {folder}: {exc.strerror}") from exc
    os.close(fd)
    os.unlink(probe)


def _creation_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0666 less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


class _PendingFile:
    """One host's stream being written under a temporary name in the target folder."""

    def __init__(self, folder: Path, host: str, mode: int) -> None:
        fd, temp = tempfile.mkstemp(prefix=f".{host}.", suffix=".part", dir=folder)
        self.temp = Path(temp)
        self.final = folder / host
        try:
            os.fchmod(fd, mode)
            self.file: BinaryIO = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.temp.unlink(missing_ok=True)
            raise

    def write(self, data: bytes) -> None:
        """Straight to the file (chunks arrive 32 KiB at a time): nothing waits in memory."""
        self.file.write(data)
        self.file.flush()

    def commit(self) -> None:
        """Rename over the real name: all of it or none of it, whatever happens to this process.

        No fsync: it made 100 local hosts with --outdir, --errdir and --json-results take
        1.9-2.4 s instead of 0.5-0.8 s (300 fsyncs, one after another on the thread that
        collects results). A power cut may lose the newest files; no crash or Ctrl-C can
        leave half of one under its real name."""
        self.file.close()
        os.replace(self.temp, self.final)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            self.temp.unlink()


def _write_whole(path: Path, data: bytes, mode: int) -> None:
    """``path`` replaced by ``data`` atomically (same temporary-then-rename as the outputs)."""
    pending = _PendingFile(path.parent, path.name, mode)
    try:
        pending.write(data)
        pending.commit()
    except BaseException:
        pending.discard()
        raise


class _HostFiles:
    """The open files of one host, and whether its result arrived (later output is dropped)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.streams: dict[str, _PendingFile] = {}
        self.finished = False
        self.error: str | None = None


class OutputFiles(NullListener):
    """A listener writing each host's stdout to ``outdir/HOST`` and stderr to ``errdir/HOST``.

    Either folder may be None (that stream is not written); they must differ. Both are created
    if missing (as pssh does). With ``json_results`` the host's
    :meth:`~remoteops.results.HostResult.to_json` object goes to ``HOST.json`` in ``outdir``
    (else ``errdir``). Use :func:`check_file_names` on the hosts first.

    Writing never raises into the run: a host whose files could not be written (disk full,
    permission) is listed in :attr:`failures`; :meth:`applied_to` turns those into failed hosts.
    """

    def __init__(
        self, outdir: Path | None, errdir: Path | None, *, json_results: bool = False
    ) -> None:
        if outdir is None and errdir is None:
            raise ValueError("OutputFiles needs an outdir, an errdir or both")
        self.folders: dict[str, Path] = {}
        for stream, folder in ((STDOUT, outdir), (STDERR, errdir)):
            if folder is not None:
                _usable_folder(folder)
                self.folders[stream] = folder
        if outdir is not None and errdir is not None and os.path.samefile(outdir, errdir):
            raise ConfigurationError(  # by inode: a symlink, '..' or a bind mount all count
                f"--outdir and --errdir are the same folder ({outdir}): a host's stdout and "
                "stderr would need the same file name; give two folders"
            )
        self.json_folder = (outdir or errdir) if json_results else None
        #: Host name -> why its files could not be written.
        self.failures: dict[str, str] = {}
        self._mode = _creation_mode()
        self._hosts: dict[str, _HostFiles] = {}
        self._lock = threading.Lock()

    def _files_of(self, host: str) -> _HostFiles:
        with self._lock:
            files = self._hosts.get(host)
            if files is None:
                files = self._hosts[host] = _HostFiles()
            return files

    def host_output(self, host: str, stream: str, data: bytes) -> None:
        folder = self.folders.get(stream)
        if folder is None:
            return
        files = self._files_of(host)
        with files.lock:
            if files.finished or files.error is not None:
                return
            try:
                pending = files.streams.get(stream)
                if pending is None:
                    pending = files.streams[stream] = _PendingFile(folder, host, self._mode)
                pending.write(data)
            except OSError as exc:
                files.error = _why(exc, folder / host)

    def host_finished(self, result: HostResult) -> None:
        files = self._files_of(result.host)
        with files.lock:
            files.finished = True
            try:
                self._settle_outputs(result, files)
                self._settle_json(result, files)
            finally:
                for pending in files.streams.values():
                    pending.discard()  # committed ones are renamed away: nothing left to remove
                files.streams.clear()
            if files.error is not None:
                self.failures[result.host] = files.error
        with self._lock:
            self._hosts.pop(result.host, None)

    def _settle_outputs(self, result: HostResult, files: _HostFiles) -> None:
        """Each output name of the host ends as this run's whole file, or absent: when one
        cannot be written, none is kept (an earlier run's file would pass for this run's)."""
        finals = {stream: folder / result.host for stream, folder in self.folders.items()}
        target = None
        try:
            for stream, target in finals.items():
                pending = files.streams.pop(stream, None)
                if not result.output_complete or files.error is not None:
                    if pending is not None:
                        pending.discard()
                    target.unlink(missing_ok=True)  # no earlier run's file left
                elif pending is None:  # the command printed nothing on this stream
                    _write_whole(target, b"", self._mode)
                else:
                    pending.commit()
        except OSError as exc:
            files.error = files.error or _why(exc, target)
            for final in finals.values():
                with contextlib.suppress(OSError):
                    final.unlink(missing_ok=True)

    def _settle_json(self, result: HostResult, files: _HostFiles) -> None:
        """``HOST.json`` says what the run says: ``failed`` when the files were not written."""
        if self.json_folder is None:
            return
        target = self.json_folder / (result.host + JSON_SUFFIX)
        if files.error is not None:
            result = _files_failed(result, files.error)
        text = json.dumps(result.to_json(), ensure_ascii=False) + "\n"
        try:
            _write_whole(target, text.encode(), self._mode)
        except OSError as exc:
            files.error = files.error or _why(exc, target)
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)  # an earlier run's result is not this one's

    def interrupted(self, running: Sequence[str]) -> None:
        return None

    def applied_to(self, report: RunReport) -> RunReport:
        """``report`` with every host whose files could not be written ``failed``, saying why:
        output the user asked to keep and did not get is a failure, not a footnote."""
        if not self.failures:
            return report
        results = [
            _files_failed(r, self.failures[r.host]) if r.host in self.failures else r
            for r in report.results
        ]
        return dataclasses.replace(report, results=results)


def _files_failed(result: HostResult, why: str) -> HostResult:
    """``result`` failed because its files could not be written, its own error kept."""
    return dataclasses.replace(
        result,
        status=Status.FAILED,
        error=f"output file not written: {why}"
        + (f" (and {result.error})" if result.error else ""),
    )


def _why(exc: OSError, target: Path | None) -> str:
    """The file that could not be written (its real name, not the temporary one) and why."""
    return f"{target or exc.filename}: {exc.strerror or exc}"
