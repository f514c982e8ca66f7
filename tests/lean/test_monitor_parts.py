"""The pet monitor's pure parts on the base install: the event state machine, the --mqtt URL and the discovery
payloads, the systemd notifier's socket address (tests/test_monitor.py runs them all for real)."""

from __future__ import annotations

import json
import socket

import pytest

from catdog.runtime.events import EventTracker, pet_labels
from catdog.runtime.mqtt import MqttError, discovery_configs, parse_url
from catdog.runtime.systemd import Notifier


def run(tracker: EventTracker, labels: list[str], fps: float = 1.0) -> list[tuple]:
    events = []
    for frame, label in enumerate(labels):
        for event in tracker.update(label, 0.9, frame / fps, frame):
            events.append((event["event"], event["label"], event["timestamp"], event.get("duration")))
    return events


def test_arrived_after_n_frames_in_a_row_and_left_after_s_seconds_unseen():
    tracker = EventTracker(["cats", "dogs"], enter_frames=3, leave_seconds=2)
    labels = ["none", "cats", "cats", "none", "cats", "cats", "cats", "cats", "none", "cats", "none", "none", "none"]
    assert run(tracker, labels) == [("arrived", "cats", 6.0, None), ("left", "cats", 11.0, 5.0)]
    assert tracker.present() == {"cats": False, "dogs": False}


def test_a_pet_seen_again_before_leave_seconds_stays_and_each_pet_is_its_own():
    tracker = EventTracker(["cats", "dogs"], enter_frames=2, leave_seconds=3)
    labels = ["cats", "cats", "dogs", "dogs", "cats", "none", "none", "none", "none"]
    assert run(tracker, labels) == [
        ("arrived", "cats", 1.0, None),
        ("arrived", "dogs", 3.0, None),
        ("left", "dogs", 6.0, 1.0),
        ("left", "cats", 7.0, 4.0),
    ]


def test_the_background_label_is_never_a_pet_and_a_two_class_model_has_only_pets():
    assert pet_labels(["cats", "dogs", "none"], "none") == ["cats", "dogs"]
    assert pet_labels(["cats", "dogs"], None) == ["cats", "dogs"]
    tracker = EventTracker(pet_labels(["cats", "dogs", "none"], "none"), enter_frames=1)
    assert run(tracker, ["none"] * 5) == []


@pytest.mark.parametrize(
    "url, host, port, tls, user",
    [
        ("mqtt://broker", "broker", 1883, False, None),
        ("mqtts://broker", "broker", 8883, True, None),
        ("mqtt://me@10.0.0.2:1884", "10.0.0.2", 1884, False, "me"),
        ("mqtt://[::1]:1883/", "::1", 1883, False, None),
    ],
)
def test_mqtt_urls(url, host, port, tls, user):
    broker = parse_url(url, environ={})
    assert (broker.host, broker.port, broker.tls, broker.user, broker.password) == (host, port, tls, user, None)


def test_the_password_from_the_environment_or_a_file_never_in_the_printed_url(tmp_path):
    (tmp_path / "secret").write_text("from-file\nignored\n")
    broker = parse_url("mqtt://me@host", tmp_path / "secret", environ={})
    assert (broker.password, broker.password_from, broker.url) == (
        "from-file",
        str(tmp_path / "secret"),
        "mqtt://me@host:1883",
    )
    broker = parse_url("mqtt://host", environ={"CATDOG_MQTT_USER": "cat", "CATDOG_MQTT_PASSWORD": "from-env"})
    assert (broker.user, broker.password, broker.password_from) == ("cat", "from-env", "$CATDOG_MQTT_PASSWORD")
    broker = parse_url("mqtt://me:in%40url@host", environ={"CATDOG_MQTT_PASSWORD": "from-env"})
    assert broker.password == "in@url" and "in@url" not in broker.url
    with pytest.raises(MqttError, match="a password needs a user"):
        parse_url("mqtt://host", environ={"CATDOG_MQTT_PASSWORD": "x"})
    with pytest.raises(MqttError, match="cannot read"):
        parse_url("mqtt://me@host", tmp_path / "missing", environ={})


def test_discovery_payloads_follow_home_assistant():
    configs = discovery_configs("catdog_hall", "catdog hall", "catdog/hall", "homeassistant", ["cats", "dogs"], "m")
    assert sorted(configs) == [
        "homeassistant/binary_sensor/catdog_hall/cats/config",
        "homeassistant/binary_sensor/catdog_hall/dogs/config",
        "homeassistant/camera/catdog_hall/snapshot/config",
        "homeassistant/sensor/catdog_hall/label/config",
    ]
    for payload in configs.values():
        json.dumps(payload)
        assert payload["device"]["identifiers"] == ["catdog_hall"]
        assert payload["availability_topic"] == "catdog/hall/availability"
    assert len({payload["unique_id"] for payload in configs.values()}) == 4
    assert configs["homeassistant/camera/catdog_hall/snapshot/config"]["topic"] == "catdog/hall/snapshot"


def test_the_notifier_sends_ready_then_watchdog_pings(tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1"})
        notifier.alive()
        notifier.alive()
        notifier.stopping()
        assert [sock.recv(100) for _ in range(4)] == [
            b"READY=1\nSTATUS=classifying frames",
            b"WATCHDOG=1",
            b"WATCHDOG=1",
            b"STOPPING=1",
        ]
    assert Notifier({}).address == "" and Notifier({"NOTIFY_SOCKET": "@abstract"}).address == "\0abstract"
