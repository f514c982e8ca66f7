"""Who may watch (docs/access.md): catdog-cam --serve with a secret, read by a real HTTP client. The source is the
stand-in Raspberry Pi camera; tests/test_serve.py has the loopback view without one and the browser's login."""

from __future__ import annotations

import json
import re

import pytest
from support import run_cli
from test_serve import newest, request, serving

from catdog.runtime.serve import FORGET_S, MAX_FAILURES, MAX_TRACKED, SECRET_ENV, Lockout, ServeError, serve_secret

# Every path but /healthz and /login, and the methods a client could try them with.
GUARDED = [("GET", path) for path in ("/", "/index.html", "/latest.json", "/stream.mjpg", "/nothing")]
GUARDED += [("POST", "/latest.json")]


def test_a_generated_secret_bearer_login_and_lockout(tiny_export, camera_photos, tmp_path):
    """On 0.0.0.0 without a secret one is generated and shown once; every path but /healthz and /login is 401
    without it, 200 with it as a bearer token or with the login's cookie; wrong secrets lock one address out."""
    with serving(tiny_export, camera_photos, tmp_path, "--no-display", serve="0.0.0.0:0") as (_, port, process):
        url = f"http://0.0.0.0:{port}/"
        assert process.banner[-2].rstrip() == f"catdog-cam: live view at {url} (not loopback: login required)"
        secret = re.fullmatch(
            r"catdog-cam: live view secret, generated and shown only now: (\S+) .*\n", process.banner[-1]
        )[1]
        assert f"log in at {url}login" in process.banner[-1] and len(secret) >= 32
        bearer = {"Authorization": f"Bearer {secret}"}
        host = "127.0.0.1"  # the rule is about the address bound, not the client's: loopback clients log in too
        assert newest(host, port, bearer)["source"] == "picam"

        status, _, body = request(host, port, "/healthz")  # open, and nothing of what the camera sees
        assert status == 200 and set(json.loads(body)) == {"status", "frame_age_s", "fps"}
        for method, path in GUARDED:
            status, headers, body = request(host, port, path, method=method)
            assert status == 401 and headers["WWW-Authenticate"] == 'Bearer realm="catdog-cam"', (method, path)
            assert secret.encode() not in body
        assert b'<form method="post" action="/login">' in request(host, port, "/")[2]
        for wrong in (
            {"Authorization": "Bearer nope"},
            {"Authorization": secret},
            {"Cookie": f"catdog_session={secret}"},
        ):
            assert request(host, port, "/latest.json", wrong)[0] == 401, wrong

        status, _, page = request(host, port, "/", bearer)
        assert status == 200 and b'src="/stream.mjpg"' in page
        status, _, part = request(host, port, "/stream.mjpg", bearer)
        assert status == 200 and part.shape == (240, 320, 3)

        assert b'name="secret"' in request(host, port, "/login")[2]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = request(host, port, "/login", form, "POST", f"secret={secret}")
        cookie = headers["Set-Cookie"]
        assert status == 303 and headers["Location"] == "/" and secret not in cookie
        assert re.fullmatch(r"catdog_session=[\w-]{40,}; Path=/; HttpOnly; SameSite=Strict", cookie)
        session = {"Cookie": cookie.split(";")[0]}
        assert request(host, port, "/latest.json", session)[0] == 200
        assert request(host, port, "/stream.mjpg", session)[0] == 200

        # Wrong secrets from one address (127.0.0.2) lock it out, the right secret included; 127.0.0.1 goes on.
        other = "127.0.0.2"
        assert request(host, port, "/login", form, "POST", "secret=wrong", source=other)[0] == 401
        for _ in range(MAX_FAILURES - 1):
            assert request(host, port, "/latest.json", {"Authorization": "Bearer wrong"}, source=other)[0] == 401
        for method, path, body, headers in [
            ("GET", "/latest.json", None, bearer),
            ("POST", "/login", f"secret={secret}", form),
        ]:
            status, answered, _ = request(host, port, path, headers, method, body, source=other)
            assert status == 429 and 0 < int(answered["Retry-After"]) <= 60, (method, path)
        assert request(host, port, "/latest.json", session, source=other)[0] == 200  # a login made before
        assert request(host, port, "/healthz", source=other)[0] == 200
        assert request(host, port, "/latest.json", bearer)[0] == 200
    stdout = (tmp_path / "stdout.jsonl").read_text()
    assert '"frame"' in stdout and secret not in stdout
    assert "".join(process.banner).count(secret) == 1 and secret not in process.rest


def test_a_secret_from_a_file_also_guards_loopback(tiny_export, camera_photos, tmp_path):
    """A secret given (its file named in the banner, itself never printed) guards 127.0.0.1 too; the file wins
    over $CATDOG_SERVE_SECRET."""
    secret_file = tmp_path / "secret"
    secret_file.write_text("  file secret  \nsecond line ignored\n")
    args = ["--no-display", "--serve-secret-file", secret_file]
    changes = {SECRET_ENV: "environment secret"}
    with serving(tiny_export, camera_photos, tmp_path, *args, env_changes=changes) as (host, port, process):
        assert process.banner[-1].rstrip() == (
            f"catdog-cam: live view at http://{host}:{port}/ (login required, secret from {secret_file}: log in "
            f"at http://{host}:{port}/login or send 'Authorization: Bearer SECRET')"
        )
        assert newest(host, port, {"Authorization": "Bearer file secret"})["source"] == "picam"
        assert request(host, port, "/latest.json")[0] == 401
        assert request(host, port, "/latest.json", {"Authorization": "Bearer environment secret"})[0] == 401
    everything = "".join(process.banner) + process.rest + (tmp_path / "stdout.jsonl").read_text()
    assert "file secret" not in everything and "environment secret" not in everything


def test_bad_secrets_are_one_line_and_exit_2(tiny_export, tmp_path):
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    cases = [
        (
            [tmp_path / "missing"],
            {},
            f"--serve-secret-file: cannot read {tmp_path / 'missing'}: No such file or directory",
        ),
        ([tmp_path], {}, f"--serve-secret-file: cannot read {tmp_path}: Is a directory"),
        ([tmp_path / "binary"], {}, f"--serve-secret-file: cannot read {tmp_path / 'binary'}: not text"),
        ([tmp_path / "empty"], {}, f"the live view's secret from {tmp_path / 'empty'} is empty"),
        ([], {SECRET_ENV: " "}, f"the live view's secret from ${SECRET_ENV} is empty"),
    ]
    for file, env, message in cases:
        args = ["--serve-secret-file", *file] if file else []
        result = run_cli(
            "catdog-cam", "--model", tiny_export, "--source", tmp_path, "--no-display", "--serve", "0", *args, env=env
        )
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"catdog-cam: error: {message}\n"), file
    result = run_cli("catdog-cam", "--model", tiny_export, "--serve-secret-file", tmp_path / "empty")
    assert result.returncode == 2 and result.stderr.endswith("error: --serve-secret-file needs --serve\n")


def test_the_secret_from_the_environment_is_taken_out_of_it():
    environ = {SECRET_ENV: " s3cret ", "OTHER": "1"}
    assert serve_secret(None, environ) == ("s3cret", f"${SECRET_ENV}") and environ == {"OTHER": "1"}
    assert serve_secret(None, {}) == (None, "")
    with pytest.raises(ServeError, match="empty"):
        serve_secret(None, {SECRET_ENV: ""})


def test_the_lockout_doubles_is_per_address_and_a_right_secret_ends_the_count():
    now = [1000.0]
    lockout = Lockout(max_failures=3, lockout_s=10.0, clock=lambda: now[0])
    for _ in range(2):
        lockout.failed("a")
    assert lockout.retry_after("a") == 0
    lockout.succeeded("a")  # a right secret: the count starts again
    for _ in range(3):
        lockout.failed("a")
    assert lockout.retry_after("a") == 10.0 and lockout.retry_after("b") == 0
    now[0] += 10.5
    assert lockout.retry_after("a") == 0
    lockout.failed("a")  # one more after the lockout: twice as long
    assert lockout.retry_after("a") == 20.0
    now[0] += 20.0 + FORGET_S + 1  # forgotten: a fresh count
    assert lockout.retry_after("a") == 0 and "a" not in lockout.failures
    for index in range(MAX_TRACKED + 10):  # a bounded memory, however many addresses
        lockout.failed(f"10.0.{index}")
    assert len(lockout.failures) == MAX_TRACKED and "10.0.0" not in lockout.failures  # the oldest forgotten
