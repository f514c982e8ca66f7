"""`catdog-cam --mqtt mqtt://[user@]host[:port]` (or mqtts:// with TLS): the monitor's state, events and snapshots
on an MQTT broker, with Home Assistant MQTT discovery. paho-mqtt is an optional extra (`pip install
".[mqtt]"`), imported only here and only then.

Topics, under the prefix P (--mqtt-topic, default catdog/<node>):
  P/availability  online / offline (retained; offline is also the last will, sent by the broker if we die)
  P/state         JSON: label, text, probability, probabilities, present per pet, fps, age_ms, frame, time (retained)
  P/label         the label alone (retained): the Home Assistant sensor's state
  P/<pet>         ON / OFF per pet label (retained): the binary sensors' states
  P/event         each event's JSON line (QoS 1, not retained)
  P/snapshot      the newest snapshot's JPEG bytes (retained): the camera entity
Discovery (retained, under --mqtt-discovery-prefix, default homeassistant), one device for them all:
  <prefix>/binary_sensor/<node>/<pet>/config, <prefix>/sensor/<node>/label/config,
  <prefix>/camera/<node>/snapshot/config.
The broker may be down at start or restart: classification goes on, paho reconnects with back-off (1 s doubling
to RECONNECT_MAX_S), and each (re)connection publishes availability, discovery and the retained state again, said
in one line. A refused login or TLS certificate is said in one line and retried the same way. The password
(from the URL, $CATDOG_MQTT_PASSWORD or --mqtt-password-file) is never printed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

PASSWORD_ENV, USER_ENV = "CATDOG_MQTT_PASSWORD", "CATDOG_MQTT_USER"
KEEPALIVE_S = 30
RECONNECT_MAX_S = 30
CLOSE_WAIT_S = 5.0
STATE_EVERY_S = 1.0  # the retained state at most this often, unless the label or a presence changes
PAYLOAD_ON, PAYLOAD_OFF = "ON", "OFF"
ONLINE, OFFLINE = "online", "offline"
INSTALL = "--mqtt needs paho-mqtt, an optional extra: pip install 'catdog[mqtt]' (in a clone: pip install -e '.[mqtt]')"


class MqttError(ValueError):
    """An --mqtt option that cannot be used (said in one line at start, exit 2)."""


@dataclass
class Broker:
    """Where and how to connect, from the --mqtt URL and the credential options."""

    host: str
    port: int
    tls: bool
    user: str | None = None
    password: str | None = None
    password_from: str = ""

    @property
    def url(self) -> str:
        """The URL without the password, for messages."""
        user = f"{self.user}@" if self.user else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_url(text: str, password_file: Path | None = None, environ=os.environ) -> Broker:
    """mqtt://[user[:password]@]host[:port] or mqtts://...; the password also from $CATDOG_MQTT_PASSWORD or a
    file (first line), the user also from $CATDOG_MQTT_USER. MqttError naming what is wrong (never the password)."""
    example = "expected mqtt://[user@]host[:port] or mqtts://..., e.g. mqtt://192.168.1.10:1883"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise MqttError(f"--mqtt: bad port in {redact(text)!r}; {example}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise MqttError(f"--mqtt: {redact(text)!r} is not an mqtt:// or mqtts:// URL; {example}")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise MqttError(f"--mqtt: {redact(text)!r} has no host or has more than a host and port; {example}")
    if port == 0:
        raise MqttError(f"--mqtt: bad port 0 in {redact(text)!r}; {example}")
    tls = parts.scheme == "mqtts"
    user = unquote(parts.username) if parts.username else environ.get(USER_ENV) or None
    password, source = (unquote(parts.password), "the URL") if parts.password is not None else (None, "")
    if password is None and environ.get(PASSWORD_ENV):
        password, source = environ[PASSWORD_ENV], f"${PASSWORD_ENV}"
    if password is None and password_file:
        try:
            lines = password_file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not text"
            raise MqttError(f"--mqtt-password-file: cannot read {password_file}: {reason}") from None
        password, source = (lines[0] if lines else ""), str(password_file)
    if password is not None and user is None:
        raise MqttError(f"--mqtt: a password needs a user (mqtt://USER@host or ${USER_ENV})")
    return Broker(parts.hostname, port or (8883 if tls else 1883), tls, user, password, source)


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def node_id(name: str) -> str:
    """A device name as Home Assistant's discovery node_id and object ids allow: [a-zA-Z0-9_-]."""
    return re.sub(r"[^a-zA-Z0-9_-]+", "_", name).strip("_").lower() or "catdog"


def version() -> str:
    try:
        return metadata.version("catdog")
    except metadata.PackageNotFoundError:
        return "unknown"


def discovery_configs(
    node: str, name: str, prefix: str, discovery: str, pets: list[str], model: str
) -> dict[str, dict]:
    """Home Assistant MQTT discovery: config topic -> payload, for one device with a binary_sensor per pet label,
    a sensor for the label (the state JSON as its attributes: probability, fps, ...) and a camera for the
    snapshot."""
    device = {
        "identifiers": [node],
        "name": name,
        "manufacturer": "catdog",
        "model": model,
        "sw_version": version(),
    }
    common = {
        "availability_topic": f"{prefix}/availability",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": {"name": "catdog", "sw_version": version()},
    }
    configs = {
        f"{discovery}/binary_sensor/{node}/{node_id(pet)}/config": {
            "name": pet,
            "unique_id": f"{node}_{node_id(pet)}",
            "state_topic": f"{prefix}/{pet}",
            "payload_on": PAYLOAD_ON,
            "payload_off": PAYLOAD_OFF,
            "device_class": "occupancy",
            **common,
        }
        for pet in pets
    }
    configs[f"{discovery}/sensor/{node}/label/config"] = {
        "name": "label",
        "unique_id": f"{node}_label",
        "state_topic": f"{prefix}/label",
        "json_attributes_topic": f"{prefix}/state",
        "icon": "mdi:paw",
        **common,
    }
    configs[f"{discovery}/camera/{node}/snapshot/config"] = {
        "name": "snapshot",
        "unique_id": f"{node}_snapshot",
        "topic": f"{prefix}/snapshot",
        **common,
    }
    return configs


class Publisher:
    """An MQTT connection kept up by paho's own thread. The loop calls `state`, `event` and `snapshot`; none of
    them waits for the network."""

    def __init__(
        self,
        broker: Broker,
        name: str,
        prefix: str | None,
        discovery: str,
        pets: list[str],
        model: str,
        ca_file: Path | None = None,
    ):
        try:
            import paho.mqtt.client as paho
        except ImportError:
            raise MqttError(INSTALL) from None
        self.broker, self.pets = broker, pets
        self.node = node_id(name)
        self.prefix = (prefix or f"catdog/{self.node}").rstrip("/")
        self.configs = discovery_configs(self.node, name, self.prefix, discovery, pets, model)
        self.discovery = discovery
        self.lock = threading.Lock()
        self.retained: dict[str, bytes | str] = {}  # topic -> newest retained payload, re-published on connect
        self.last_state, self.last_label = 0.0, None
        self.connections, self.outage = 0, ""  # the outage's last message, said once
        self.up = False  # connected now (paho's thread)
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"catdog-{self.node}-{os.getpid()}")
        if broker.user is not None:
            client.username_pw_set(broker.user, broker.password)
        if broker.tls:
            try:
                client.tls_set(ca_certs=str(ca_file) if ca_file else None)
            except (OSError, ssl.SSLError) as error:
                raise MqttError(
                    f"--mqtt-ca: cannot use {ca_file}: {getattr(error, 'strerror', None) or error}"
                ) from None
        client.will_set(f"{self.prefix}/availability", OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(1, RECONNECT_MAX_S)
        client.max_queued_messages_set(100)
        client.on_connect, client.on_disconnect = self._connected, self._disconnected
        client.on_connect_fail, client.on_message = self._connect_failed, self._message
        self.client = client

    def describe(self) -> str:
        password = f", password from {self.broker.password_from}" if self.broker.password is not None else ""
        return (
            f"MQTT: connecting to {self.broker.url}{password}; topics under {self.prefix}/, Home Assistant "
            f"discovery under {self.discovery}/ (device {self.node})"
        )

    def start(self) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    def close(self, wait: float = CLOSE_WAIT_S) -> None:
        """Say offline (a clean disconnect sends no last will), then disconnect. A run that ends while the first
        connection is still being made (a short file) waits for it up to `wait` seconds, so its events go out."""
        deadline = time.monotonic() + wait
        while not self.connections and not self.outage and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.client.is_connected():
            self.client.publish(f"{self.prefix}/availability", OFFLINE, qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    # --- what the loop publishes ---

    def state(self, record: dict, present: dict[str, bool], changed: bool) -> None:
        """The retained state: at most every STATE_EVERY_S, at once when the label or a presence changed."""
        now = time.monotonic()
        if not changed and record["label"] == self.last_label and now - self.last_state < STATE_EVERY_S:
            return
        self.last_state, self.last_label = now, record["label"]
        state = {
            key: record[key]
            for key in ("label", "text", "probability", "probabilities", "fps", "age_ms", "frame", "timestamp")
        }
        state["present"], state["time"] = present, time.time()
        self.publish(f"{self.prefix}/state", json.dumps(state))
        self.publish(f"{self.prefix}/label", record["label"], only_changed=True)
        for pet, here in present.items():
            self.publish(f"{self.prefix}/{pet}", PAYLOAD_ON if here else PAYLOAD_OFF, only_changed=True)

    def event(self, event: dict) -> None:
        self.client.publish(f"{self.prefix}/event", json.dumps(event), qos=1)

    def snapshot(self, jpeg: bytes) -> None:
        self.publish(f"{self.prefix}/snapshot", jpeg)

    def publish(self, topic: str, payload, only_changed: bool = False) -> None:
        """Publish retained (with `only_changed`, unless it is what was published last), and remember it for the
        next reconnection."""
        with self.lock:
            if only_changed and self.retained.get(topic) == payload:
                return
            self.retained[topic] = payload
        self.client.publish(topic, payload, qos=0, retain=True)

    # --- paho's callbacks, on its thread ---

    def _announce(self, client) -> None:
        """Availability, discovery and the remembered retained state, all retained."""
        client.publish(f"{self.prefix}/availability", ONLINE, qos=1, retain=True)
        for topic, config in self.configs.items():
            client.publish(topic, json.dumps(config), qos=1, retain=True)
        with self.lock:
            retained = dict(self.retained)
        for topic, payload in retained.items():
            client.publish(topic, payload, qos=0, retain=True)

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            hint = " (check the user and password)" if reason.value in (0x86, 0x87, 4, 5) else ""
            self.say(f"the broker {self.broker.url} refused the connection: {reason}{hint}; retrying with back-off")
            return
        client.subscribe(f"{self.discovery}/status")  # Home Assistant's birth message: announce again
        self._announce(client)
        self.connections, self.up = self.connections + 1, True
        again = "reconnected to" if self.connections > 1 else "connected to"
        print(
            f"catdog-cam: MQTT: {again} {self.broker.url}; published availability, {len(self.configs)} discovery "
            f"configs and {len(self.retained)} retained state topics",
            file=sys.stderr,
            flush=True,
        )
        self.outage = ""

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:
        was_up, self.up = self.up, False
        if was_up and (reason.is_failure or reason.value != 0):
            self.say(
                f"lost the broker {self.broker.url} ({reason}); classification goes on, reconnecting with back-off"
            )

    def _connect_failed(self, client, userdata) -> None:
        error = sys.exc_info()[1]  # paho calls this inside its `except OSError`
        if isinstance(error, ssl.SSLCertVerificationError):
            why = f"its TLS certificate was not accepted ({error.verify_message}; --mqtt-ca FILE names a CA)"
        elif isinstance(error, ssl.SSLError):
            why = f"TLS failed ({error.reason or error})"
        elif isinstance(error, socket.gaierror):
            why = f"unknown host ({error.strerror})"
        elif isinstance(error, OSError):
            why = error.strerror or str(error) or type(error).__name__
        else:
            why = "connection failed"
        self.say(f"cannot connect to {self.broker.url}: {why}; classification goes on, retrying with back-off")

    def _message(self, client, userdata, message) -> None:
        if message.topic == f"{self.discovery}/status" and message.payload == b"online":
            self._announce(client)

    def say(self, message: str) -> None:
        """One line per kind of trouble until the next successful connection."""
        if message != self.outage:
            self.outage = message
            print(f"catdog-cam: MQTT: {message}", file=sys.stderr, flush=True)
