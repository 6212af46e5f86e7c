"""The end of a command's stdin, sent so that it can never follow the channel's close.

paramiko's ``Channel.shutdown_write`` builds the EOF under the channel's lock and sends it
after releasing it. A command that ends in between (most do: their stdin is closed as they
start) has paramiko's reader thread answer the server's CLOSE first; OpenSSH then gets an
EOF for a channel it freed and drops the whole connection ("ieof packet referred to
nonexistent channel", paramiko issues 1115, 1584 and 1705). Every session on it goes with
it: in CI, a task's SFTP session was lost that way.

Here the EOF is built and written while holding the transport's send lock, the one the
reader thread's CLOSE must take after it: either the channel is already closed and no EOF
is sent, or the EOF is on the wire before the CLOSE.
"""

from __future__ import annotations

import time

import paramiko
from paramiko.common import cMSG_CHANNEL_EOF


def send_eof(channel: paramiko.Channel) -> None:
    """``channel.shutdown_write()`` without its race (see the module's docstring)."""
    transport = channel.get_transport()
    if transport is None:
        return
    # The wait for a key exchange to end is that of Transport._send_user_message.
    give_up = time.monotonic() + transport.clear_to_send_timeout
    while transport.is_active():
        transport.clear_to_send.wait(0.1)
        with transport.clear_to_send_lock:
            if transport.clear_to_send.is_set():
                with channel.lock:
                    if channel.closed or channel.eof_sent:
                        return
                    channel.eof_sent = True
                    message = paramiko.Message()
                    message.add_byte(cMSG_CHANNEL_EOF)
                    message.add_int(channel.remote_chanid)
                transport.packetizer.send_message(message)
                return
        if time.monotonic() > give_up:
            raise paramiko.SSHException("key exchange timed out waiting to send EOF")


__all__ = ["send_eof"]
