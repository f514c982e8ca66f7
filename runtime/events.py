"""Pet events: "arrived" and "left", from the (smoothed) predictions of catdog-cam, frame by frame.

A pet label (every label but the model's background class; with a two-class model every label) *arrives* once
the decided label (the decision rule applied: Classifier.decide) has been that label for `enter_frames` frames
in a row, and *leaves* once it has not been seen for `leave_seconds` seconds of the source's time. The times are
the frames' own (the position in a video, or seconds since a camera started), so a file gives the same events
on every machine at any speed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass
class Presence:
    """What is known about one pet label: frames in a row seen, when that streak began, and, while present,
    when it was last seen and with what probability."""

    streak: int = 0
    first_seen: float = 0.0
    present: bool = False
    last_seen: float = 0.0
    probability: float = 0.0
    snapshot: str | None = None


@dataclass
class EventTracker:
    """The state machine over all pet labels. `update` takes one frame's decided label and returns its events."""

    pets: list[str]
    enter_frames: int = 3
    leave_seconds: float = 5.0
    state: dict[str, Presence] = field(default_factory=dict)

    def __post_init__(self):
        self.state = {label: Presence() for label in self.pets}

    def present(self) -> dict[str, bool]:
        """Each pet label: present now or not."""
        return {label: presence.present for label, presence in self.state.items()}

    def update(self, label: str, probability: float, timestamp: float, frame: int) -> list[dict]:
        """The events of one frame whose decided label is `label` at source time `timestamp`: "left" events
        first, then "arrived" ones, each a dict ready to be a JSON line."""
        events = []
        for pet, presence in self.state.items():
            if pet == label:
                presence.streak = presence.streak + 1
                if presence.streak == 1 and not presence.present:
                    presence.first_seen = timestamp
                if presence.present:
                    presence.last_seen, presence.probability = timestamp, probability
                elif presence.streak >= self.enter_frames:
                    presence.present, presence.last_seen, presence.probability = True, timestamp, probability
                    presence.snapshot = None
                    events.append(event("arrived", pet, probability, timestamp, frame))
                continue
            presence.streak = 0
            if presence.present and timestamp - presence.last_seen >= self.leave_seconds:
                presence.present = False
                left = event("left", pet, presence.probability, timestamp, frame)
                left["duration"] = round(presence.last_seen - presence.first_seen, 3)
                left["snapshot"] = presence.snapshot
                events.insert(0, left)
        return events

    def remember_snapshot(self, label: str, path: str | None) -> None:
        """The snapshot taken on this label's arrival, named again in its "left" event."""
        self.state[label].snapshot = path


def event(kind: str, label: str, probability: float, timestamp: float, frame: int) -> dict:
    """An event as a JSON-ready dict: "time" is the wall clock (UTC, ISO 8601), "timestamp" the source's."""
    return {
        "event": kind,
        "label": label,
        "probability": round(probability, 6),
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "timestamp": round(timestamp, 3),
        "frame": frame,
        "snapshot": None,
    }


def pet_labels(labels: list[str], background: str | None) -> list[str]:
    """The labels that are pets: all but the background class."""
    return [label for label in labels if label != background]
