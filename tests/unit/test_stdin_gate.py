"""The one close of a command's input is never lost, whichever thread asks and when."""

from __future__ import annotations

import threading

import pytest

from remoteops.transports.base import StdinGate


class _Recorder:
    def __init__(self, *, pause_in_write: threading.Event | None = None) -> None:
        self.written: list[bytes] = []
        self.ended = 0
        self.pause = pause_in_write
        self.writing = threading.Event()

    def write(self, data: bytes | memoryview) -> None:
        self.writing.set()
        if self.pause is not None:
            self.pause.wait(5)
        self.written.append(bytes(data))

    def end(self) -> None:
        self.ended += 1


def test_a_close_asked_during_a_write_happens_when_the_write_returns() -> None:
    go_on = threading.Event()
    recorder = _Recorder(pause_in_write=go_on)
    gate = StdinGate(recorder.write, recorder.end)
    writer = threading.Thread(target=gate.write, args=(b"data",))
    writer.start()
    assert recorder.writing.wait(5)
    gate.close()  # the writer holds the lock: only asked
    assert recorder.ended == 0
    go_on.set()
    writer.join(5)
    assert recorder.written == [b"data"]
    assert recorder.ended == 1
    with pytest.raises(BrokenPipeError):
        gate.write(b"more")


def test_a_close_asked_between_the_writers_check_and_its_release_is_not_lost() -> None:
    """The window the review found: close() saw the lock taken just after the writer had
    looked at the flag. Thousands of races, every one closed exactly once."""
    for _ in range(2000):
        recorder = _Recorder()
        gate = StdinGate(recorder.write, recorder.end)
        writer = threading.Thread(target=gate.write, args=(b"x",))
        writer.start()
        gate.close()
        writer.join(5)
        assert recorder.ended == 1


def test_a_failing_write_keeps_its_own_error_and_the_close_still_happens() -> None:
    ended: list[int] = []
    go_on = threading.Event()
    started = threading.Event()

    def failing_write(data: bytes | memoryview) -> None:
        started.set()
        go_on.wait(5)
        raise BrokenPipeError("the command went away")

    def end() -> None:
        ended.append(1)
        raise ValueError("end failed")

    gate = StdinGate(failing_write, end)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            gate.write(b"x")
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    assert started.wait(5)
    gate.close()
    go_on.set()
    writer.join(5)
    assert [type(e) for e in errors] == [BrokenPipeError]
    assert ended == [1]
