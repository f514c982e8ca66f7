"""The live view's server (catdog.runtime.serve.LiveView) fed frames of a real photo by a stand-in loop, read by
HTTP clients: the newest prediction, a stream of real JPEGs, a bounded number of viewers. No model needed."""

from __future__ import annotations

import socket
import threading
import time

import cv2
import pytest
from support import DATA, get, latest, open_stream, read_part

from catdog.runtime.cam import annotate_record
from catdog.runtime.serve import MAX_CLIENTS, LiveView, ServeError, parse_address

PHOTO = DATA / "validation" / "cats" / "cat.2000.jpg"


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
