"""A command's stdin (its data and its end), sent so that none of it can follow the
channel's close.

paramiko's ``Channel.sendall`` and ``Channel.shutdown_write`` build their DATA or EOF message
under the channel's lock and send it after releasing it. A command that ends in between (one
that reads only part of its input, or none of it; most close their stdin as they start) has
paramiko's reader thread answer the server's CLOSE first; OpenSSH then gets data or an EOF
for a channel it freed and drops the whole connection ("data packet referred to nonexistent
channel", "ieof packet referred to nonexistent channel": paramiko issues 1115, 1584 and
1705). Every session on it goes with it: in CI, a task's SFTP session was lost that way.

Here each message is built and written while holding the transport's send lock, the one the
reader thread's CLOSE must take after it: either the channel is already closed and nothing
is sent, or the message is on the wire before the CLOSE. The send window is waited for
without that lock (a key exchange needs the reader thread to take it), then checked again
under it.

Private paramiko names used (paramiko 3 to 5): ``Transport.clear_to_send``,
``clear_to_send_lock``, ``clear_to_send_timeout`` and ``packetizer``; ``Channel.lock``,
``out_buffer_cv``, ``out_window_size``, ``out_max_packet_size``, ``remote_chanid``,
``eof_sent`` and ``timeout``.
"""

from __future__ import annotations

import time

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_EOF

#: What paramiko leaves out of each packet's data for the message around it (Channel.send).
_PACKET_OVERHEAD = 64


def send_eof(channel: paramiko.Channel) -> None:
    """``channel.shutdown_write()`` without its race (see the module's docstring)."""
    transport = channel.get_transport()
    if transport is None or not _take_send_lock(transport):
        return
    try:
        with channel.lock:
            if channel.closed or channel.eof_sent:
                return
            channel.eof_sent = True
            message = paramiko.Message()
            message.add_byte(cMSG_CHANNEL_EOF)
            message.add_int(channel.remote_chanid)
        transport.packetizer.send_message(message)
    finally:
        transport.clear_to_send_lock.release()


def send_data(channel: paramiko.Channel, data: bytes | memoryview) -> None:
    """``channel.sendall(data)`` without its race (see the module's docstring).

    Raises :class:`OSError` when the channel is closed or its stdin ended before all of
    ``data`` was sent (the command exited without reading it: nothing more is sent), and
    :class:`TimeoutError` (paramiko's ``socket.timeout``) past the channel's timeout
    without send window.
    Packets are cut from a view: ``sendall`` re-slices what is left after every packet
    (``s = s[sent:]``), which copies a 1 MiB write 32 times; measured, that doubled the
    client CPU of a bulk transfer.
    """
    view = memoryview(data)
    while view:
        view = view[_send_packet(channel, view) :]


def _send_packet(channel: paramiko.Channel, data: memoryview) -> int:
    """Send the head of ``data`` that the window and one packet allow; return its length."""
    transport = channel.get_transport()
    while True:
        _wait_for_window(channel)
        if transport is None or not _take_send_lock(transport):
            raise OSError("Socket is closed")  # the connection is gone: its channels too
        try:
            with channel.lock:
                if channel.closed or channel.eof_sent:
                    raise OSError("Socket is closed")  # paramiko's words for the same
                size = min(
                    len(data),
                    channel.out_window_size,
                    channel.out_max_packet_size - _PACKET_OVERHEAD,
                )
                if size <= 0:
                    continue  # another writer took the window: wait again, lock released
                channel.out_window_size -= size
                message = paramiko.Message()
                message.add_byte(cMSG_CHANNEL_DATA)
                message.add_int(channel.remote_chanid)
                message.add_string(data[:size])  # paramiko writes a view as it is
            transport.packetizer.send_message(message)
            return size
        finally:
            transport.clear_to_send_lock.release()


def _wait_for_window(channel: paramiko.Channel) -> None:
    """Wait, holding only the channel's lock, until it has send window, is closed or has
    sent its EOF (the caller then looks again under the send lock). The window-adjust
    that wakes it comes from the reader thread, which needs no other lock for it."""
    with channel.lock:
        give_up = None if channel.timeout is None else time.monotonic() + channel.timeout
        while channel.out_window_size == 0 and not (channel.closed or channel.eof_sent):
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("no send window within the channel's timeout")
            channel.out_buffer_cv.wait(left)


def _take_send_lock(transport: paramiko.Transport) -> bool:
    """Acquire the transport's send lock once no key exchange is in progress, as
    ``Transport._send_user_message`` does; False (not held) when the connection is gone."""
    give_up = time.monotonic() + transport.clear_to_send_timeout
    while transport.is_active():
        transport.clear_to_send.wait(0.1)
        transport.clear_to_send_lock.acquire()
        if transport.clear_to_send.is_set():
            return True
        transport.clear_to_send_lock.release()
        if time.monotonic() > give_up:
            raise paramiko.SSHException("key exchange timed out waiting to send")
    return False


__all__ = ["send_data", "send_eof"]
