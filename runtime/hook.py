"""`catdog-cam --on-event CMD`: run CMD with each event's JSON line on its stdin, on a thread of its own, so the
loop never waits for it. One command at a time, in order; at most QUEUE events wait (more are dropped and
counted); a command still running after `timeout` seconds is killed; at the end of the run queued events get a
few seconds more. CMD is split as a shell would (shlex) but run without one: for pipes or redirections use
`sh -c '...'`. A failure (not found, exit status, killed after the timeout) is said on stderr in one line, once
per kind."""

from __future__ import annotations

import contextlib
import json
import queue
import shlex
import subprocess
import sys
import threading

QUEUE = 16


class Hook:
    """Runs the command for each event handed to `offer`, one at a time. `close` waits for the one running."""

    def __init__(self, command: str, timeout: float = 10.0):
        try:
            self.argv = shlex.split(command)
        except ValueError as error:
            raise ValueError(f"--on-event: cannot split {command!r}: {error}") from None
        if not self.argv:
            raise ValueError("--on-event: the command is empty")
        self.command, self.timeout = command, timeout
        self.ran = self.dropped = 0
        self.said: set[str] = set()
        self.current: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE)
        self._thread = threading.Thread(target=self._run, name="catdog-hook", daemon=True)
        self._thread.start()

    def offer(self, event: dict) -> None:
        """Queue the event for the command; never blocks."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            self.say("busy", f"events come faster than it runs; {QUEUE} wait, later ones are dropped")

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            self.run_once(event)

    def run_once(self, event: dict) -> None:
        """Run the command once with the event on stdin, and say how it failed (once per kind)."""
        try:
            # stdout to our stderr: catdog-cam's stdout stays its JSON lines
            self.current = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=sys.stderr, text=True)
        except FileNotFoundError:
            self.say("missing", f"{self.argv[0]}: no such command")
            return
        except PermissionError:
            self.say("permission", f"{self.argv[0]}: not executable")
            return
        except OSError as error:
            self.say("os", f"cannot run: {error.strerror}")
            return
        try:
            self.current.communicate(json.dumps(event) + "\n", timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.current.kill()
            self.current.wait()
            self.say("timeout", f"killed after {self.timeout:g} s")
        self.ran += 1
        if self.current.returncode > 0:
            self.say(f"status {self.current.returncode}", f"exited with status {self.current.returncode}")

    def say(self, kind: str, message: str) -> None:
        if kind not in self.said:
            self.said.add(kind)
            print(f"catdog-cam: --on-event {self.command!r}: {message} (said once)", file=sys.stderr, flush=True)

    def close(self, wait: float = 5.0) -> None:
        """Let the queued events run for up to `wait` seconds, then kill the command still running."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=wait)
        self._thread.join(timeout=wait)
        if self._thread.is_alive() and self.current and self.current.poll() is None:
            self.current.kill()
