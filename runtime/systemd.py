"""Telling systemd that catdog-cam is alive (sd_notify, without libsystemd): READY=1 once the first frame is
classified, WATCHDOG=1 from the loop while frames keep coming, at half the unit's WatchdogSec ($WATCHDOG_USEC),
STOPPING=1 at the end. A camera that hangs stops the pings, and systemd restarts the service. Without
$NOTIFY_SOCKET (not under systemd) it does nothing."""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    """sd_notify over the datagram socket systemd names in $NOTIFY_SOCKET."""

    def __init__(self, environ=os.environ):
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address  # "@": the abstract namespace
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watched = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        self.interval = int(usec) / 2e6 if watched else None
        self.ready = False
        self.last_ping = 0.0

    def send(self, message: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError:  # systemd went away: nothing to tell
            pass

    def alive(self) -> None:
        """Called by the loop after each frame: READY=1 the first time, then WATCHDOG=1 at most every interval."""
        if not self.ready:
            self.ready = True
            self.send("READY=1\nSTATUS=classifying frames")
        now = time.monotonic()
        if self.interval and now - self.last_ping >= self.interval:
            self.last_ping = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
