"""catdog-cam as a pet monitor: the options and the per-frame work of events (events.py), snapshots
(snapshots.py), the --on-event hook (hook.py), MQTT with Home Assistant discovery (mqtt.py) and systemd's
watchdog (systemd.py), so that cam.py only calls `Monitor.frame` once per frame."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.runtime.arguments import positive_float, positive_int
from catdog.runtime.events import EventTracker, pet_labels
from catdog.runtime.hook import Hook
from catdog.runtime.mqtt import MqttError, Publisher, parse_url
from catdog.runtime.snapshots import Snapshots


class MonitorError(ValueError):
    """A monitor option that cannot be used (one line at start, exit 2)."""


# The monitor's options that only mean something with another one (catdog.runtime.arguments.refuse_orphans).
NEEDS = {
    "keep": "snapshots",
    "snapshot_every": "snapshots",
    "snapshot_raw": "snapshots",
    "on_event_timeout": "on_event",
    **{dest: "mqtt" for dest in ("mqtt_topic", "mqtt_name", "mqtt_discovery_prefix", "mqtt_password_file", "mqtt_ca")},
}


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """The pet monitor's options of catdog-cam."""
    group = parser.add_argument_group("pet monitor (docs/monitor.md)")
    add = group.add_argument
    add("--events", action="store_true", help='"arrived"/"left" JSON lines on stdout (implied by the options below)')
    add("--events-only", action="store_true", help="event lines only, no line per frame")
    add("--enter-frames", type=positive_int, default=3, metavar="N", help="a pet arrives after N frames (3)")
    add(
        "--leave-seconds",
        type=positive_float,
        default=5.0,
        metavar="S",
        help="a pet leaves after S seconds unseen (5)",
    )
    add("--snapshots", type=Path, metavar="DIR", help="save a JPEG of the frame into DIR when a pet arrives")
    add("--keep", type=positive_int, default=100, metavar="N", help="--snapshots: keep the newest N files (100)")
    add("--snapshot-every", type=positive_float, metavar="S", help="--snapshots: also every S s while a pet stays")
    add("--snapshot-raw", action="store_true", help="--snapshots: the frame as captured, without the overlay")
    add("--on-event", metavar="CMD", help="run CMD with each event's JSON on stdin (one at a time, in the background)")
    add(
        "--on-event-timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="kill CMD after S seconds (10)",
    )
    add("--mqtt", metavar="URL", help="mqtt://[user@]host[:port] or mqtts://...: state, events, snapshots, discovery")
    add("--mqtt-topic", metavar="PREFIX", help="topic prefix (default catdog/<device>)")
    add("--mqtt-name", metavar="NAME", help="device name in Home Assistant (default: catdog <hostname>)")
    add("--mqtt-discovery-prefix", default="homeassistant", metavar="PREFIX", help="(default homeassistant)")
    add("--mqtt-password-file", type=Path, metavar="FILE", help="the password on FILE's first line")
    add("--mqtt-ca", type=Path, metavar="FILE", help="mqtts://: CA certificates to check the broker's with")


def wanted(args) -> bool:
    """Whether any monitor option was given."""
    return bool(args.events or args.events_only or args.snapshots or args.on_event is not None or args.mqtt)


@dataclass
class Monitor:
    """Events, snapshots, hook and MQTT for one run. `frame` is called once per classified frame."""

    tracker: EventTracker
    snapshots: Snapshots | None = None
    hook: Hook | None = None
    mqtt: Publisher | None = None
    last_snapshot: float | None = None

    @classmethod
    def from_args(cls, args, classifier, device_name: str) -> Monitor:
        """Build it from catdog-cam's options; MonitorError for one that cannot be used (before anything starts)."""
        pets = pet_labels(classifier.labels, classifier.background)
        try:
            mqtt = None
            if args.mqtt:
                broker = parse_url(args.mqtt, args.mqtt_password_file)
                model = f"{classifier.name}: {', '.join(classifier.labels)}"
                name = args.mqtt_name or device_name
                mqtt = Publisher(broker, name, args.mqtt_topic, args.mqtt_discovery_prefix, pets, model, args.mqtt_ca)
            hook = Hook(args.on_event, args.on_event_timeout) if args.on_event is not None else None
        except (MqttError, ValueError) as error:
            raise MonitorError(str(error)) from None
        snapshots = (
            Snapshots(args.snapshots, args.keep, args.snapshot_every, not args.snapshot_raw) if args.snapshots else None
        )
        return cls(
            EventTracker(pets, args.enter_frames, args.leave_seconds),
            snapshots,
            hook,
            mqtt,
        )

    def describe(self) -> list[str]:
        """The start lines."""
        lines = [
            f"events for {', '.join(self.tracker.pets)}: arrived after {self.tracker.enter_frames} frames in a row, "
            f"left after {self.tracker.leave_seconds:g} s unseen"
        ]
        lines += [self.snapshots.describe()] if self.snapshots else []
        lines += [self.mqtt.describe()] if self.mqtt else []
        return lines

    def start(self) -> None:
        if self.mqtt:
            self.mqtt.start()

    def frame(self, image: np.ndarray, record: dict, annotate: Callable[[np.ndarray, dict], np.ndarray]) -> list[dict]:
        """One frame's events (already snapshotted, hooked and published), from its JSON record."""
        events = self.tracker.update(record["label"], record["probability"], record["timestamp"], record["frame"])
        for event in events:
            if event["event"] == "arrived" and self.snapshots:
                event["snapshot"] = self.snapshot(image, record, annotate)
                self.tracker.remember_snapshot(event["label"], event["snapshot"])
            if self.hook:
                self.hook.offer(event)
            if self.mqtt:
                self.mqtt.event(event)
        present = self.tracker.present()
        if self.snapshots and self.snapshots.every and present.get(record["label"]) and not events:
            if record["timestamp"] - (self.last_snapshot or 0.0) >= self.snapshots.every:
                self.snapshot(image, record, annotate)
        if self.mqtt:
            self.mqtt.state(record, present, changed=bool(events))
        return events

    def snapshot(self, image, record: dict, annotate) -> str | None:
        """Save (and publish) the frame; its path, or None if it could not be written."""
        self.last_snapshot = record["timestamp"]
        path, jpeg = self.snapshots.save(
            annotate(image, record) if self.snapshots.annotated else image, record["label"]
        )
        if jpeg and self.mqtt:
            self.mqtt.snapshot(jpeg)
        return str(path) if path else None

    def close(self) -> None:
        if self.hook:
            self.hook.close()
        if self.mqtt:
            self.mqtt.close()
