"""The live view's server (catdog.runtime.serve.LiveView) fed frames of a real photo by a stand-in loop, read by
HTTP clients: the newest prediction, a stream of real JPEGs, a bounded number of viewers. No model needed."""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time

import cv2
import pytest
from support import DATA, get, latest, open_stream, read_part

from catdog.runtime.cam import annotate_record
from catdog.runtime.serve import MAX_CLIENTS, LiveView, ServeError, parse_address

TLS_HELLO = bytes.fromhex("160301002e0100002a0303") + bytes(32) + bytes.fromhex("000002002f0100")

PHOTO = DATA / "validation" / "cats" / "cat.2000.jpg"
RECORD = {"frame": 0, "label": "cats", "text": "cats", "probability": 0.9, "inference_ms": 1.0, "fps": 200.0}


def test_before_the_first_frame_latest_is_503_then_the_newest_line():
    with LiveView("127.0.0.1", 0, annotate_record) as view:
        host, port = view.address
        status, body = get(host, port, "/latest.json")
        assert status == 503 and body == b'{"error": "no frame classified yet"}\n'
        view.publish(cv2.imread(str(PHOTO)), {"frame": 7, "label": "cats"})
        assert latest(host, port) == {"frame": 7, "label": "cats"}
        assert get(host, port, "/elsewhere")[0] == 404


def test_a_bounded_number_of_viewers_and_a_freed_place():
    image = cv2.resize(cv2.imread(str(PHOTO)), (320, 240))
    record = {"frame": 0, "label": "cats", "text": "cats", "probability": 0.9, "inference_ms": 1.0, "fps": 200.0}
    with LiveView("127.0.0.1", 0, annotate_record) as view:
        host, port = view.address
        stop = threading.Event()

        def loop():  # stands in for catdog-cam's loop: a new frame every 5 ms
            while not stop.wait(0.005):
                view.publish(image, record)

        threading.Thread(target=loop, daemon=True).start()
        try:
            viewers = [open_stream(host, port) for _ in range(MAX_CLIENTS)]
            for _, response in viewers:
                assert response.status == 200 and read_part(response).shape == (240, 320, 3)
            status, body = get(host, port, "/stream.mjpg")
            assert status == 503 and body.decode() == f"too many viewers (at most {MAX_CLIENTS}); try again later\n"
            viewers.pop()[0].close()  # one leaves: the server notices on its next frame and frees the place
            for _ in range(50):
                connection, response = open_stream(host, port)
                if response.status == 200:
                    break
                connection.close()
                time.sleep(0.1)
            assert response.status == 200 and read_part(response).size
            viewers.append((connection, response))
        finally:
            stop.set()
            for connection, _ in viewers:
                connection.close()
    with pytest.raises(OSError):  # closed with the run
        socket.create_connection((host, port), timeout=2)


def test_a_port_in_use_is_one_clear_error():
    with LiveView("127.0.0.1", 0, annotate_record) as view:
        with pytest.raises(ServeError, match=rf"^cannot serve on 127.0.0.1:{view.address[1]}: Address already in use$"):
            LiveView("127.0.0.1", view.address[1], annotate_record)


@pytest.mark.parametrize(
    "text, address",
    [
        ("127.0.0.1:8090", ("127.0.0.1", 8090)),
        ("8090", ("127.0.0.1", 8090)),
        (":8090", ("127.0.0.1", 8090)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::]:8090", ("::", 8090)),
    ],
)
def test_serve_addresses(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host", "host:port", "1.2.3.4:70000", ""])
def test_bad_serve_addresses(text):
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_address(text)


def vanish(host: str, port: int, sent: bytes) -> None:
    """A client that sends `sent` and goes away at once with a reset (SO_LINGER 0), as a closed tab can."""
    with socket.create_connection((host, port), timeout=10) as client:
        client.sendall(sent)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def answer(host: str, port: int, sent: bytes) -> bytes:
    """Send `sent`, then read until the server closes the connection: what it answered."""
    with socket.create_connection((host, port), timeout=10) as client:
        client.sendall(sent)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
        return received


def test_vanishing_clients_and_garbage_leave_nothing_on_stderr(capfd):
    """Clients that reset mid-answer or mid-request line, TLS, garbage and an unknown HTTP version: dropped or
    answered without a word on stderr, and the server goes on serving."""
    with LiveView("127.0.0.1", 0, annotate_record, request_deadline_s=1.0) as view:
        host, port = view.address
        view.publish(cv2.imread(str(PHOTO)), RECORD)
        for _ in range(10):
            for path in ("/", "/latest.json", "/stream.mjpg", "/nowhere"):
                vanish(host, port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            vanish(host, port, b"GET /lat")
        assert b"Error code: 505" in answer(host, port, b"GET / HTTP/9.9\r\n\r\n")
        assert b"Error code: 400" in answer(host, port, b"\x00\xff garbage\r\n\r\n")
        assert answer(host, port, TLS_HELLO) == b""  # never a whole request line: closed at the deadline
        answer(host, port, os.urandom(3000))
        assert latest(host, port) == RECORD
    assert capfd.readouterr().err == ""


def closed_by_server(client: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or a reset), waiting a little for it."""
    if not select.select([client], [], [], 0.2)[0]:
        return False
    try:
        return client.recv(65536) == b""
    except OSError:
        return True


def test_a_request_trickling_in_is_dropped_at_its_deadline(capfd):
    """One header line every 0.2 s never lets the per-read timeout expire; the request's deadline in all ends it."""
    with LiveView("127.0.0.1", 0, annotate_record, request_deadline_s=1.0) as view:
        with socket.create_connection(view.address, timeout=10) as client:
            client.sendall(b"GET /latest.json HTTP/1.1\r\n")
            for line in range(100):
                try:
                    client.sendall(f"X-Line: {line}\r\n".encode())
                except OSError:
                    break
                if closed_by_server(client):
                    break
            assert line < 99, "still connected after 100 header lines"
        assert get(*view.address, "/elsewhere")[0] == 404
    assert capfd.readouterr().err == ""


def test_connections_beyond_the_cap_get_503_and_every_thread_ends(capfd):
    with LiveView("127.0.0.1", 0, annotate_record, max_connections=3) as view:
        host, port = view.address
        idle = [socket.create_connection((host, port), timeout=10) for _ in range(3)]  # connected, sending nothing
        status, body = get(host, port, "/latest.json")
        assert status == 503 and body == b"too many connections (at most 3); try again later\n"
        for client in idle:
            client.close()
        for _ in range(100):  # the idle connections' threads end once they see the close
            if (status := get(host, port, "/")[0]) == 200:
                break
            time.sleep(0.1)
        assert status == 200 and get(host, port, "/latest.json")[1] == b'{"error": "no frame classified yet"}\n'
        for _ in range(100):
            if view.server.connections == 0:
                break
            time.sleep(0.1)
        assert view.server.connections == 0
    assert capfd.readouterr().err == ""
