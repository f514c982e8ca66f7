"""`catdog-cam --serve HOST:PORT`: the live view for a browser, from the standard library's HTTP server.

  /              a small page: the annotated video and the newest label, probability, inference ms, loop FPS
  /stream.mjpg   the annotated video as MJPEG (multipart/x-mixed-replace), at most STREAM_FPS frames a second
  /latest.json   the newest prediction, with the same keys as a catdog-cam JSON line
  /healthz       200 while frames arrive; 503 with the reason when none came yet or the newest is older than
                 HEALTHY_AGE_S (a camera that hangs): for systemd, Docker or a load balancer

The server never slows the classification loop: the loop only hands over a reference to its newest frame and
prediction (`publish`); annotating and JPEG encoding run on the server's own encoder thread, only while a
client watches the stream, and only for the newest frame. Each client gets the newest JPEG when it is ready
for one, so a slow client skips frames and never holds anyone up; a client that disconnects is dropped;
at most MAX_CLIENTS streams at once, the next one gets 503.

Connections are bounded too: a request must arrive whole (request line and headers) within REQUEST_DEADLINE_S
in all, however slowly it trickles in, and at most MAX_CONNECTIONS are served at once: the next one gets 503
from the accepting thread, without a thread of its own. A client that goes away mid-answer, or sends a cut-off
request, garbage or TLS, is dropped without a word: stderr carries catdog-cam's own lines only.

Who may watch: with a secret (--serve-secret-file, $CATDOG_SERVE_SECRET, or on any address but loopback one
generated and shown once at start), every path but /healthz and /login answers 401 until the request carries
`Authorization: Bearer SECRET` or the session cookie that POST /login with the secret sets (HttpOnly,
SameSite=Strict, a random token of this run: never the secret). Secrets are compared in constant time; after
MAX_FAILURES wrong secrets from one client address, that address gets 429 with Retry-After for LOCKOUT_S,
doubling with each further wrong one (at most MAX_LOCKOUT_S), for every secret it sends, the right one
included. /healthz says only whether frames arrive (never a label). docs/access.md has the whole of it.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import http.cookies
import http.server
import io
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

MAX_CLIENTS = 4
STREAM_FPS = 10.0  # at most this many JPEGs a second are encoded for the stream: each costs CPU inference could use
JPEG_QUALITY = 80
CLIENT_TIMEOUT_S = 10.0  # a client that takes no data for this long is dropped
REQUEST_DEADLINE_S = 10.0  # a request must have arrived whole this long after its connection was accepted
MAX_CONNECTIONS = 32  # served at once (streams, pages, JSON polls); the next one gets 503
HEALTHY_AGE_S = 5.0  # /healthz: the newest frame may be this old
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BOUNDARY = "catdogframe"
SECRET_ENV = "CATDOG_SERVE_SECRET"
COOKIE = "catdog_session"
MAX_FAILURES = 5  # wrong secrets from one client address before it is locked out
LOCKOUT_S = 60.0  # the first lockout; each further wrong secret doubles it
MAX_LOCKOUT_S = 3600.0
FORGET_S = 900.0  # an address's failures are forgotten this long after its last one (and its lockout's end)
MAX_TRACKED = 4096  # client addresses with failures kept at once (the oldest are forgotten first)
MAX_LOGIN_BYTES = 4096  # the most a POST /login body may hold

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>catdog-cam</title>
<style>body{font-family:system-ui,sans-serif;margin:1em;background:#111;color:#eee}
img{max-width:100%;background:#000}#label{font-size:2em;font-weight:bold}td{padding:0 1em 0 0}</style></head>
<body><div id="label">waiting for the first frame</div>
<table><tr><td>probability</td><td id="probability"></td></tr>
<tr><td>inference</td><td id="inference_ms"></td></tr><tr><td>loop</td><td id="fps"></td></tr>
<tr><td>frame age</td><td id="age_ms"></td></tr><tr><td>source</td><td id="source"></td></tr></table>
<img src="/stream.mjpg" alt="live view">
<script>
async function update() {
  try {
    const response = await fetch("/latest.json", {cache: "no-store"});
    if (response.ok) {
      const p = await response.json();
      document.getElementById("label").textContent = p.text;
      document.getElementById("probability").textContent = (100 * p.probability).toFixed(1) + " %";
      document.getElementById("inference_ms").textContent = p.inference_ms.toFixed(2) + " ms";
      document.getElementById("fps").textContent = p.fps.toFixed(1) + " FPS";
      document.getElementById("age_ms").textContent = p.age_ms.toFixed(1) + " ms";
      document.getElementById("source").textContent = p.source + " frame " + p.frame;
    } else if (response.status === 401) {
      location.reload();  // logged out (catdog-cam restarted): the login form
    }
  } catch (error) {}
  setTimeout(update, 250);
}
update();
</script></body></html>
"""

LOGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>catdog-cam: log in</title>
<style>body{{font-family:system-ui,sans-serif;margin:1em;background:#111;color:#eee}}</style></head>
<body><p>{message}</p><form method="post" action="/login">
<input type="password" name="secret" autocomplete="current-password" autofocus required>
<button type="submit">log in</button></form></body></html>
"""


class ServeError(RuntimeError):
    """An address that cannot be served on."""


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' (host 127.0.0.1); IPv6 as '[::]:PORT'. ValueError if malformed."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:8090, not {text!r}")
    return host, int(port)


def serve_secret(path: Path | None, environ=os.environ) -> tuple[str | None, str]:
    """The live view's secret and where it came from: the first line of `path`, else $CATDOG_SERVE_SECRET (taken
    out of `environ`, so that the --on-event command and other children do not inherit it), else (None, "").
    ServeError naming what is wrong (never the secret) for a file that cannot be read or an empty secret."""
    secret, origin = environ.pop(SECRET_ENV, None), f"${SECRET_ENV}"
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not text"
            raise ServeError(f"--serve-secret-file: cannot read {path}: {reason}") from None
        secret, origin = (lines[0] if lines else ""), str(path)
    if secret is not None and not secret.strip():
        raise ServeError(f"the live view's secret from {origin} is empty")
    return (secret.strip(), origin) if secret is not None else (None, "")


class Lockout:
    """Wrong secrets per client address: after MAX_FAILURES, the address is refused (429) for LOCKOUT_S, doubled
    with each further one, at most MAX_LOCKOUT_S; forgotten FORGET_S after the last; at most MAX_TRACKED kept."""

    def __init__(self, max_failures: int = MAX_FAILURES, lockout_s: float = LOCKOUT_S, clock=time.monotonic):
        self.max_failures, self.lockout_s, self.clock = max_failures, lockout_s, clock
        self.failures: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()  # count, until
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try a secret again; 0 when it may now."""
        with self._lock:
            count, until = self.failures.get(client, (0, 0.0))
            now = self.clock()
            if count and now > until + FORGET_S:
                del self.failures[client]
            return max(until - now, 0.0) if count >= self.max_failures else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            count = self.failures.pop(client, (0, 0.0))[0] + 1
            now = self.clock()
            locked = min(self.lockout_s * 2 ** max(count - self.max_failures, 0), MAX_LOCKOUT_S)
            self.failures[client] = (count, now + locked if count >= self.max_failures else now)
            while len(self.failures) > MAX_TRACKED:
                self.failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self.failures.pop(client, None)


class DeadlineReader(socket.SocketIO):
    """A connection's reading end that gives up (TimeoutError) at `deadline` (time.monotonic()) in all, not
    only after CLIENT_TIMEOUT_S without data: a request sent a byte at a time cannot hold its thread."""

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__(sock, "rb")
        self.deadline = deadline

    def readinto(self, buffer) -> int | None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(min(left, CLIENT_TIMEOUT_S))
        return super().readinto(buffer)


class Server(http.server.ThreadingHTTPServer):
    """The threading HTTP server with at most `max_connections` served at once, and quiet about clients."""

    daemon_threads = True
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args, **kwargs):
        self.connections, self._counting = 0, threading.Lock()
        self.refused: collections.deque = collections.deque()  # (when to close, socket) of refused connections
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address) -> None:
        with self._counting:
            full = self.connections >= self.max_connections
            if not full:
                self.connections += 1
        if full:
            self.refuse(request)
        else:
            super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._counting:
                self.connections -= 1

    def refuse(self, request: socket.socket) -> None:
        """503 at once, from the accepting thread (never blocking it); the socket is closed a second later, by
        service_actions, so that the answer is not lost to the reset a close with unread data would send."""
        body = f"too many connections (at most {self.max_connections}); try again later\n".encode()
        with contextlib.suppress(OSError):
            request.setblocking(False)
            request.send(
                b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            request.shutdown(socket.SHUT_WR)
        self.refused.append((time.monotonic() + 1.0, request))

    def service_actions(self) -> None:
        """Close the refused connections whose second is up (the serving loop calls this every half second)."""
        while self.refused and (self.refused[0][0] <= time.monotonic() or len(self.refused) > 4 * self.max_connections):
            _, request = self.refused.popleft()
            with contextlib.suppress(OSError):
                request.recv(65536)  # what the client sent, read so that closing does not reset
            request.close()

    def server_close(self) -> None:
        super().server_close()
        while self.refused:
            self.refused.popleft()[1].close()

    def handle_error(self, request, client_address) -> None:
        """A client that went away, reset or timed out is dropped without a word; anything else is one line."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            print(f"catdog-cam: live view: {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)


class LiveView:
    """The newest frame and prediction, served over HTTP while the loop runs. Use as a context manager."""

    def __init__(
        self,
        host: str,
        port: int,
        annotate: Callable[[np.ndarray, dict], np.ndarray],
        healthy_age_s: float = HEALTHY_AGE_S,
        request_deadline_s: float = REQUEST_DEADLINE_S,
        max_connections: int = MAX_CONNECTIONS,
        *,
        secret: str | None = None,
        secret_from: str = "",
        lockout: Lockout | None = None,
    ):
        """`secret`: what a client must show (the module's doc); None: none on loopback, generated elsewhere."""
        self.annotate, self.healthy_age_s = annotate, healthy_age_s
        self.generated = secret is None and host not in LOOPBACK
        self.secret = secrets.token_urlsafe(24) if self.generated else secret
        self.secret_from = "generated" if self.generated else secret_from
        self.session = secrets.token_urlsafe(32)  # the login cookie's value: this run's, never the secret
        self.lockout = lockout or Lockout()
        self.request_deadline_s = request_deadline_s
        self._changed = threading.Condition()
        self._newest: tuple[np.ndarray, dict] | None = None  # from the loop, not yet encoded
        self.latest: dict | None = None  # the newest prediction, as a JSON line
        self.updated = 0.0  # time.monotonic() of the newest publish
        self.jpeg, self.sequence = b"", 0  # the newest encoded frame and its number
        self.clients = threading.BoundedSemaphore(MAX_CLIENTS)
        self.watching = 0
        self.closed = False
        server_class = type(
            "Server",
            (Server,),
            {"max_connections": max_connections, "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        try:
            self.server = server_class((host, port), self._handler())
        except OSError as error:
            raise ServeError(f"cannot serve on {host}:{port}: {error.strerror}") from None
        self.address = self.server.server_address[:2]
        self._threads = [
            threading.Thread(target=self.server.serve_forever, name="catdog-serve", daemon=True),
            threading.Thread(target=self._encode, name="catdog-encode", daemon=True),
        ]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def describe(self) -> list[str]:
        """The lines catdog-cam prints at start: a generated secret is in them, and never anywhere else."""
        line = f"live view at {self.url}"
        if self.secret is None:
            return [line]
        login = f"log in at {self.url}login or send 'Authorization: Bearer SECRET'"
        if not self.generated:
            return [f"{line} (login required, secret from {self.secret_from}: {login})"]
        return [
            f"{line} (not loopback: login required)",
            f"live view secret, generated and shown only now: {self.secret} ({login}; to keep one across runs, "
            f"--serve-secret-file FILE or ${SECRET_ENV})",
        ]

    def has_session(self, headers) -> bool:
        """Whether a request's headers carry this run's login cookie (compared in constant time)."""
        cookie = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            cookie.load(headers.get("Cookie", ""))
        return COOKIE in cookie and hmac.compare_digest(cookie[COOKIE].value.encode(), self.session.encode())

    def check(self, offered: str) -> bool:
        """Whether `offered` is the secret, in constant time."""
        return hmac.compare_digest(offered.encode(), self.secret.encode())

    def __enter__(self) -> LiveView:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def publish(self, image: np.ndarray, record: dict) -> None:
        """Hand over the loop's newest frame (BGR, not copied: the loop must not change it) and its JSON line."""
        with self._changed:
            self._newest, self.latest, self.updated = (image, record), record, time.monotonic()
            self._changed.notify_all()

    def _encode(self) -> None:
        """Annotate and encode the newest frame, while someone watches, at most STREAM_FPS times a second."""
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self.closed or (self._newest is not None and self.watching))
                if self.closed:
                    return
                (image, record), self._newest = self._newest, None
            started = time.monotonic()
            ok, jpeg = cv2.imencode(".jpg", self.annotate(image, record), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._changed:
                    self.jpeg, self.sequence = jpeg.tobytes(), self.sequence + 1
                    self._changed.notify_all()
            time.sleep(max(0.0, 1 / STREAM_FPS - (time.monotonic() - started)))

    def next_jpeg(self, after: int) -> tuple[bytes, int] | None:
        """The newest JPEG once it is newer than number `after`; None when the server closes."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or self.sequence > after)
            return None if self.closed else (self.jpeg, self.sequence)

    def health(self) -> tuple[int, dict]:
        """/healthz: (200, {...}) while frames arrive, else (503, {"error": why})."""
        if self.latest is None:
            return 503, {"status": "unhealthy", "error": "no frame classified yet"}
        age = time.monotonic() - self.updated
        if age > self.healthy_age_s:
            return 503, {
                "status": "unhealthy",
                "error": f"the newest frame is {age:.1f} s old (limit {self.healthy_age_s:g} s)",
            }
        return 200, {"status": "ok", "frame_age_s": round(age, 3), "fps": self.latest.get("fps")}

    def _handler(self):
        view = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = CLIENT_TIMEOUT_S

            def log_message(self, *args) -> None:  # stderr carries catdog-cam's own lines only
                pass

            def setup(self) -> None:
                super().setup()
                self.rfile.close()  # read instead through a DeadlineReader: the request has a deadline in all
                deadline = time.monotonic() + view.request_deadline_s
                self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline))

            def parse_request(self) -> bool:
                parsed = super().parse_request()  # the headers are read: the request has arrived
                self.connection.settimeout(CLIENT_TIMEOUT_S)
                return parsed

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/healthz":  # open always: whether frames arrive, nothing of what they show
                    status, body = view.health()
                    self.reply(status, "application/json", (json.dumps(body) + "\n").encode())
                elif path == "/login":
                    if view.secret is None:
                        self.reply(303, "text/plain", b"", {"Location": "/"})
                    else:
                        self.login_page(200, "The live view's secret:")
                elif not self.authorized(path):
                    pass
                elif path in ("/", "/index.html"):
                    self.reply(200, "text/html; charset=utf-8", PAGE.encode())
                elif path == "/latest.json":
                    if view.latest is None:
                        self.reply(503, "application/json", b'{"error": "no frame classified yet"}\n')
                    else:
                        self.reply(200, "application/json", json.dumps(view.latest).encode())
                elif path == "/stream.mjpg":
                    self.stream()
                else:
                    self.reply(404, "text/plain", b"not found\n")

            def do_POST(self) -> None:
                """POST /login: the secret from the form; the session cookie and a redirect to / if right."""
                path = self.path.split("?")[0]
                if path != "/login":
                    if self.authorized(path):
                        self.reply(405, "text/plain", b"only GET here\n")
                    return
                if view.secret is None:
                    self.reply(303, "text/plain", b"", {"Location": "/"})
                    return
                length = self.headers.get("Content-Length", "")
                if not length.isdigit() or int(length) > MAX_LOGIN_BYTES:
                    self.close_connection = True  # the body is left unread
                    self.reply(413, "text/plain", f"a login is at most {MAX_LOGIN_BYTES} bytes\n".encode())
                    return
                form = urllib.parse.parse_qs(self.rfile.read(int(length)).decode("utf-8", "replace"))
                if (right := self.try_secret(form.get("secret", [""])[0])) is None:
                    return
                if right:
                    cookie = f"{COOKIE}={view.session}; Path=/; HttpOnly; SameSite=Strict"
                    self.reply(303, "text/plain", b"", {"Location": "/", "Set-Cookie": cookie})
                else:
                    self.login_page(401, "Wrong secret; the live view's secret:")

            def try_secret(self, offered: str) -> bool | None:
                """Whether `offered` is the secret (a wrong one counted against the client's address); None when
                the address is locked out: answered 429 with Retry-After, the secret not even compared."""
                client = self.client_address[0]
                if wait := math.ceil(view.lockout.retry_after(client)):
                    body = f"too many wrong secrets from {client}; try again in {wait} s\n".encode()
                    self.reply(429, "text/plain", body, {"Retry-After": str(wait)})
                    return None
                if view.check(offered):
                    view.lockout.succeeded(client)
                    return True
                view.lockout.failed(client)
                return False

            def authorized(self, path: str) -> bool:
                """Whether the request may see the camera: no secret, the login cookie or the secret as a bearer
                token. If not, it has been answered: 401 (the login form for the page) or 429."""
                if view.secret is None or view.has_session(self.headers):
                    return True
                scheme, _, offered = self.headers.get("Authorization", "").strip().partition(" ")
                if (right := self.try_secret(offered.strip()) if scheme.lower() == "bearer" else False) is False:
                    if path in ("/", "/index.html"):
                        self.login_page(401, "The live view's secret:")
                    else:
                        body = b"login required: the session cookie of POST /login, or Authorization: Bearer\n"
                        self.reply(401, "text/plain", body, {"WWW-Authenticate": 'Bearer realm="catdog-cam"'})
                return bool(right)

            def login_page(self, status: int, message: str) -> None:
                challenge = {"WWW-Authenticate": 'Bearer realm="catdog-cam"'} if status == 401 else {}
                self.reply(status, "text/html; charset=utf-8", LOGIN_PAGE.format(message=message).encode(), challenge)

            def reply(self, status: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-store")
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client went away: drop it
                    self.close_connection = True

            def stream(self) -> None:
                if not view.clients.acquire(blocking=False):
                    self.reply(
                        503, "text/plain", f"too many viewers (at most {MAX_CLIENTS}); try again later\n".encode()
                    )
                    return
                with view._changed:
                    view.watching += 1
                    view._changed.notify_all()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    sent = 0
                    while (newest := view.next_jpeg(sent)) is not None:
                        jpeg, sent = newest
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg
                            + b"\r\n"
                        )
                except OSError:  # the client went away or stalled: drop it
                    pass
                finally:
                    with view._changed:
                        view.watching -= 1
                    view.clients.release()

        return Handler
