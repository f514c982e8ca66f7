"""catdog-cam as a pet monitor, with real parts: a video of real photos, the tiny three-class model, Debian's
mosquitto broker on a free port of 127.0.0.1 and a paho subscriber, a hook command, a snapshot folder, systemd's
notify socket bound by the test, and systemd-analyze on the unit file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from support import NEGATIVES, ROOT, get, run_cli

MOSQUITTO = Path("/usr/sbin/mosquitto")
VIDEO_SIZE = (320, 240)
FPS = 4
SEGMENT = 8  # frames per segment: negatives, cats, negatives, dogs, negatives
ORDER = ["none", "cats", "none", "dogs", "none"]
EVENTS = ["--smooth", "0.6", "--enter-frames", "3", "--leave-seconds", "1.5"]
PREFIX = "catdog/test"
NODE = "catdog_test"
CAM = Path(sys.executable).parent / "catdog-cam"


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, what: str = "it"):
    """Poll `predicate` until it returns something true; fail after `timeout` seconds (a deadline, not a timing
    assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen in {timeout:g} s")


class Mosquitto:
    """Debian's mosquitto on a free port of 127.0.0.1, anonymous, without persistence (a restart forgets every
    retained message)."""

    def __init__(self, folder: Path, extra: str = "allow_anonymous true\n"):
        if not MOSQUITTO.exists():
            pytest.fail("mosquitto is needed: apt-get install mosquitto (.ci/run installs it)")
        self.port, self.folder = free_port(), folder
        folder.mkdir(exist_ok=True)
        self.config = folder / "mosquitto.conf"
        user = (
            "user root\n" if os.getuid() == 0 else ""
        )  # as root it would switch to mosquitto, who cannot read tmp_path
        self.config.write_text(f"listener {self.port} 127.0.0.1\npersistence false\n{user}{extra}")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.folder / "mosquitto.log").open("a")
        self.process = subprocess.Popen([MOSQUITTO, "-c", self.config], stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.listening, 10, "mosquitto listening")

    def listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def broker(tmp_path):
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


class Subscriber:
    """A paho client subscribed to '#' that keeps every message: (topic, payload bytes, retain flag)."""

    def __init__(self, port: int):
        import paho.mqtt.client as paho

        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = False
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *_: client.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: setattr(self, "subscribed", True)
        self.client.on_message = lambda client, userdata, m: self.messages.append((m.topic, m.payload, m.retain))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(lambda: self.subscribed, 10, "subscription")

    def on(self, topic: str) -> list[bytes]:
        return [payload for t, payload, _ in list(self.messages) if t == topic]

    def retained(self) -> dict[str, bytes]:
        return {topic: payload for topic, payload, retain in list(self.messages) if retain}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_now(port: int, topics: set[str], timeout: float = 30.0) -> dict[str, bytes]:
    """What a new subscriber gets as retained messages, once all of `topics` are among them (a broker marks as
    retained only what it holds when a client subscribes, so each try is a new subscriber)."""
    deadline = time.monotonic() + timeout
    while True:
        subscriber = Subscriber(port)
        try:
            return wait_until(lambda s=subscriber: topics <= set(s.retained()) and s.retained(), 1, "retained")
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"retained {sorted(topics)} did not come in {timeout:g} s") from None
        finally:
            subscriber.close()


@pytest.fixture(scope="module")
def model(tiny_background_export) -> Path:
    return tiny_background_export / "model_int8.tflite"


@pytest.fixture(scope="module")
def pet_video(tmp_path_factory, model, shared_data) -> Path:
    """A 4 FPS mp4 of [negatives, cats, negatives, dogs, negatives], SEGMENT photos each. The tiny model is
    right about 3 times in 4, so the photos are those it classifies right, with a margin, at the video's size:
    chosen here by classifying candidates with catdog-predict, never hard-coded."""
    root = tmp_path_factory.mktemp("pet_video")
    candidates = {
        "none": sorted(NEGATIVES.iterdir())[3::6][:60],  # none of the tiny model's own negatives ([5::6])
        "cats": sorted((shared_data / "validation" / "cats").glob("*.jpg"))[30:80],
        "dogs": sorted((shared_data / "validation" / "dogs").glob("*.jpg"))[30:80],
    }
    folder = root / "candidates"
    folder.mkdir()
    for label, paths in candidates.items():
        for i, path in enumerate(paths):
            if (image := cv2.imread(str(path))) is not None:
                cv2.imwrite(str(folder / f"{label}-{i:03d}.png"), cv2.resize(image, VIDEO_SIZE, cv2.INTER_AREA))
    rule = json.loads(Path(f"{model}.json").read_text())["min_probability"]
    predicted = json_lines(run_cli("catdog-predict", "--model", model, folder, "--json", check=True).stdout)
    right: dict[str, list[Path]] = {label: [] for label in candidates}
    for line in predicted:
        label, probabilities = Path(line["path"]).name.split("-")[0], line["probabilities"]
        top = max(probabilities, key=probabilities.get)
        if top == label == line["label"] and probabilities[top] >= max(rule, 0.5) + 0.1:
            right[label].append(Path(line["path"]))
    needed = {"none": 3 * SEGMENT, "cats": SEGMENT, "dogs": SEGMENT}
    assert all(len(right[label]) >= n for label, n in needed.items()), {k: len(v) for k, v in right.items()}
    used = {label: iter(paths) for label, paths in right.items()}
    writer = cv2.VideoWriter(str(root / "pets.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, VIDEO_SIZE)
    frames = [cv2.imread(str(next(used[label]))) for label in ORDER for _ in range(SEGMENT)]
    for frame in frames:
        writer.write(frame)
    writer.release()
    writer = cv2.VideoWriter(str(root / "long.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, VIDEO_SIZE)
    for frame in frames * 6:  # a minute at FPS: for the runs a test ends itself
        writer.write(frame)
    writer.release()
    return root / "pets.mp4"


def start_cam(model, source, *options, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [CAM, "--model", model, "--source", source, "--no-display", *map(str, options)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def mqtt_options(port: int) -> list[str]:
    return ["--mqtt", f"mqtt://127.0.0.1:{port}", "--mqtt-topic", PREFIX, "--mqtt-name", "catdog test"]


def check_events(events: list[dict]) -> None:
    """Arrived and left, for cats then for dogs, each inside its segment, lasting about its segment."""
    assert [(e["event"], e["label"]) for e in events] == [
        ("arrived", "cats"),
        ("left", "cats"),
        ("arrived", "dogs"),
        ("left", "dogs"),
    ]
    for arrived, left, segment in ((events[0], events[1], 1), (events[2], events[3], 3)):
        start, end = segment * SEGMENT / FPS, (segment + 1) * SEGMENT / FPS
        assert start <= arrived["timestamp"] < end and end <= left["timestamp"] < end + SEGMENT / FPS
        assert left["duration"] == pytest.approx((SEGMENT - 1) / FPS, abs=2 / FPS)
        assert left["snapshot"] == arrived["snapshot"]
        assert "duration" not in arrived and 0 < arrived["probability"] <= 1


def test_events_snapshots_hook_and_mqtt_for_a_video_of_pets(model, pet_video, broker, tmp_path):
    subscriber = Subscriber(broker.port)
    snapshots, hooked = tmp_path / "snapshots", tmp_path / "hook.jsonl"
    options = [*EVENTS, "--events-only", "--snapshots", snapshots, "--keep", "10", "--realtime"]
    options += ["--on-event", f"sh -c 'cat >> {hooked}'", *mqtt_options(broker.port)]
    result = run_cli("catdog-cam", "--model", model, "--source", pet_video, "--no-display", *options, check=True)
    events = json_lines(result.stdout)  # --events-only: no line per frame
    check_events(events)
    assert "Traceback" not in result.stderr and "MQTT: connected to mqtt://127.0.0.1" in result.stderr
    # Snapshots: one per arrival, annotated, named by time and label, decoding as JPEG at the frame's size.
    saved = sorted(snapshots.iterdir())
    assert [str(path) for path in saved] == [events[0]["snapshot"], events[2]["snapshot"]]
    assert [path.name.split("-")[-1] for path in saved] == ["cats.jpg", "dogs.jpg"]
    assert all(cv2.imread(str(path)).shape == (*VIDEO_SIZE[::-1], 3) for path in saved)
    # The hook got every event's JSON line on stdin, in order.
    assert json_lines(hooked.read_text()) == events
    # MQTT: the same events, the binary sensors' states, the state JSON and the snapshots' JPEGs.
    wait_until(lambda: len(subscriber.on(f"{PREFIX}/event")) == 4, 10, "4 events on MQTT")
    assert [json.loads(payload) for payload in subscriber.on(f"{PREFIX}/event")] == events
    for pet in ("cats", "dogs"):
        states = [payload.decode() for payload in subscriber.on(f"{PREFIX}/{pet}")]
        assert "ON" in states and states[-1] == "OFF" and states.index("ON") < len(states) - 1
    state = json.loads(subscriber.on(f"{PREFIX}/state")[-1])
    assert {"label", "probability", "present", "fps", "age_ms"} <= set(state)
    assert state["present"] == {"cats": False, "dogs": False} and state["label"] == "none"
    jpegs = subscriber.on(f"{PREFIX}/snapshot")
    assert len(jpegs) == 2 and [len(jpeg) for jpeg in jpegs] == [path.stat().st_size for path in saved]
    for jpeg in jpegs:
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (*VIDEO_SIZE[::-1], 3)
    assert [p.decode() for p in subscriber.on(f"{PREFIX}/availability")] == ["online", "offline"]
    subscriber.close()
    # Discovery: retained, valid JSON, unique ids, one device, topics that are the ones published.
    configs = {
        f"homeassistant/binary_sensor/{NODE}/cats/config",
        f"homeassistant/binary_sensor/{NODE}/dogs/config",
        f"homeassistant/sensor/{NODE}/label/config",
        f"homeassistant/camera/{NODE}/snapshot/config",
    }
    retained = retained_now(broker.port, configs | {f"{PREFIX}/state", f"{PREFIX}/snapshot"})
    payloads = {topic: json.loads(retained[topic]) for topic in configs}
    assert {topic for topic in retained if topic.startswith("homeassistant/")} == configs
    assert len({p["unique_id"] for p in payloads.values()}) == 4
    assert len({json.dumps(p["device"], sort_keys=True) for p in payloads.values()}) == 1
    device = payloads[f"homeassistant/sensor/{NODE}/label/config"]["device"]
    assert device["identifiers"] == [NODE] and device["name"] == "catdog test" and device["sw_version"]
    for topic, payload in payloads.items():
        assert payload["availability_topic"] == f"{PREFIX}/availability"
        assert (payload["payload_available"], payload["payload_not_available"]) == ("online", "offline")
        state_topic = payload.get("state_topic") or payload["topic"]
        assert state_topic in retained, topic
    cats = payloads[f"homeassistant/binary_sensor/{NODE}/cats/config"]
    assert (cats["state_topic"], cats["payload_on"], cats["payload_off"]) == (f"{PREFIX}/cats", "ON", "OFF")
    label = payloads[f"homeassistant/sensor/{NODE}/label/config"]
    assert label["json_attributes_topic"] == f"{PREFIX}/state" and retained[label["state_topic"]] == b"none"
    assert payloads[f"homeassistant/camera/{NODE}/snapshot/config"]["topic"] == f"{PREFIX}/snapshot"
    assert retained[f"{PREFIX}/snapshot"] == jpegs[-1] and retained[f"{PREFIX}/availability"] == b"offline"


def test_the_last_will_says_offline_after_kill_9(model, pet_video, broker):
    subscriber = Subscriber(broker.port)
    cam = start_cam(model, pet_video.with_name("long.mp4"), "--realtime", "--events-only", *mqtt_options(broker.port))
    try:
        wait_until(lambda: b"online" in subscriber.on(f"{PREFIX}/availability"), 60, "online")
        cam.kill()  # SIGKILL: no goodbye, the broker sends the last will
        cam.wait(10)
        wait_until(lambda: subscriber.on(f"{PREFIX}/availability")[-1] == b"offline", 30, "offline from the will")
    finally:
        cam.kill()
        subscriber.close()
    assert retained_now(broker.port, {f"{PREFIX}/availability"})[f"{PREFIX}/availability"] == b"offline"


def test_a_broker_restart_is_survived_and_everything_is_published_again(model, pet_video, broker):
    topics = {f"homeassistant/sensor/{NODE}/label/config", f"{PREFIX}/state", f"{PREFIX}/label", f"{PREFIX}/cats"}
    cam = start_cam(model, pet_video.with_name("long.mp4"), "--realtime", "--json", *mqtt_options(broker.port))
    try:
        retained_now(broker.port, topics)
        broker.stop()  # without persistence: every retained message is gone
        broker.start()
        retained = retained_now(broker.port, topics | {f"{PREFIX}/availability"})
        assert retained[f"{PREFIX}/availability"] == b"online"
        assert cam.poll() is None  # classification went on
        cam.send_signal(signal.SIGTERM)
        out, err = cam.communicate(timeout=30)
    finally:
        cam.kill()
    assert cam.returncode == 0 and "Traceback" not in err
    lines = err.splitlines()
    trouble = [line for line in lines if "MQTT: lost the broker" in line or "MQTT: cannot connect" in line]
    assert 1 <= len(trouble) <= 3  # said once per kind: lost, then refused while it was down
    assert sum("MQTT: reconnected to mqtt://127.0.0.1" in line for line in lines) == 1
    assert len(json_lines(out)) > 0


def test_a_broker_that_is_down_does_not_stop_classification(model, pet_video):
    port = free_port()  # nothing listens there
    result = run_cli("catdog-cam", "--model", model, "--source", pet_video, "--no-display", *mqtt_options(port))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert len([line for line in json_lines(result.stdout) if "frame" in line and "event" not in line]) == 40
    said = [line for line in result.stderr.splitlines() if "MQTT:" in line and "connecting" not in line]
    assert said == [
        f"catdog-cam: MQTT: cannot connect to mqtt://127.0.0.1:{port}: Connection refused; classification goes on, "
        "retrying with back-off"
    ]


def test_a_refused_login_and_a_refused_certificate_are_said_and_classification_goes_on(model, pet_video, tmp_path):
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, "catdog", "right"], check=True, capture_output=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", tmp_path / "key.pem", "-out", tmp_path / "cert.pem"],
        check=True, capture_output=True,
    )  # fmt: skip
    login = Mosquitto(tmp_path / "login", f"allow_anonymous false\npassword_file {passwords}\n")
    tls = Mosquitto(
        tmp_path / "tls", f"allow_anonymous true\ncertfile {tmp_path}/cert.pem\nkeyfile {tmp_path}/key.pem\n"
    )
    for server in (login, tls):
        server.start()
    try:
        url = f"mqtt://catdog@127.0.0.1:{login.port}"
        result = run_cli(*cam_args(model, pet_video, "--mqtt", url), env={"CATDOG_MQTT_PASSWORD": "wrong"})
        assert result.returncode == 0 and "wrong" not in result.stderr
        said = [line for line in result.stderr.splitlines() if "refused" in line]
        assert len(said) == 1 and "(check the user and password); retrying with back-off" in said[0], result.stderr
        result = run_cli(*cam_args(model, pet_video, "--mqtt", f"mqtts://127.0.0.1:{tls.port}"))
        said = [line for line in result.stderr.splitlines() if "TLS" in line]
        assert result.returncode == 0 and len(said) == 1 and "its TLS certificate was not accepted" in said[0], said
        ca = ["--mqtt-ca", tmp_path / "cert.pem"]
        result = run_cli(*cam_args(model, pet_video, "--mqtt", f"mqtts://127.0.0.1:{tls.port}", *ca))
        assert f"MQTT: connected to mqtts://127.0.0.1:{tls.port}" in result.stderr
    finally:
        for server in (login, tls):
            server.stop()


def cam_args(model, source, *options) -> list:
    """catdog-cam at the video's own pace (10 s), time enough for a broker to answer."""
    return ["catdog-cam", "--model", model, "--source", source, "--no-display", "--events-only", "--realtime", *options]


@pytest.mark.parametrize(
    "url, message",
    [
        ("mqtt://host:99999", "--mqtt: bad port in 'mqtt://host:99999'"),
        ("mqtt://user:secret@host:x", "--mqtt: bad port in 'mqtt://user:***@host:x'"),
        ("http://host", "--mqtt: 'http://host' is not an mqtt:// or mqtts:// URL"),
        ("mqtt://", "--mqtt: 'mqtt://' has no host or has more than a host and port"),
        ("mqtt://host/topic", "--mqtt: 'mqtt://host/topic' has no host or has more than a host and port"),
    ],
)
def test_a_malformed_mqtt_url_is_one_line_and_exit_2(model, pet_video, url, message):
    result = run_cli("catdog-cam", "--model", model, "--source", pet_video, "--no-display", "--mqtt", url)
    assert result.returncode == 2 and result.stdout == "" and "secret" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"catdog-cam: error: {message}; expected mqtt://")


def test_the_password_comes_from_the_environment_or_a_file_and_is_never_printed(model, pet_video, tmp_path):
    (tmp_path / "password").write_text("file-secret\n")
    port = free_port()
    for extra, env in (
        (["--mqtt-password-file", tmp_path / "password"], {}),
        ([], {"CATDOG_MQTT_PASSWORD": "env-secret"}),
    ):
        url = f"mqtt://catdog@127.0.0.1:{port}"
        result = run_cli(
            "catdog-cam", "--model", model, "--source", pet_video, "--no-display", "--mqtt", url, *extra, env=env
        )
        assert result.returncode == 0 and "secret" not in result.stderr + result.stdout
        source = "$CATDOG_MQTT_PASSWORD" if env else str(tmp_path / "password")
        assert f"MQTT: connecting to mqtt://catdog@127.0.0.1:{port}, password from {source}" in result.stderr


def test_mqtt_without_paho_is_one_line_saying_how_to_install_it(model, pet_video):
    code = "import sys; sys.modules['paho'] = None; from catdog.runtime.cam import main; sys.exit(main())"
    args = ["--model", model, "--source", pet_video, "--no-display", "--mqtt", "mqtt://127.0.0.1"]
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "catdog-cam: error: --mqtt needs paho-mqtt, an optional extra: pip install 'catdog[mqtt]' "
        "(in a clone: pip install -e '.[mqtt]')"
    )


def test_an_unwritable_snapshot_folder_is_said_once_and_the_loop_goes_on(model, pet_video, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    result = run_cli(
        "catdog-cam", "--model", model, "--source", pet_video, "--no-display", *EVENTS, "--snapshots",
        tmp_path / "a-file" / "snaps",
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr
    lines = json_lines(result.stdout)
    events = [line for line in lines if "event" in line]
    check_events(events)
    assert all(event["snapshot"] is None for event in events) and len(lines) == 40 + 4
    said = [line for line in result.stderr.splitlines() if "snapshots:" in line]
    assert said == [
        f"catdog-cam: snapshots: cannot write into {tmp_path / 'a-file' / 'snaps'}: Not a directory (the loop "
        "goes on; said once)"
    ]


def test_snapshots_keep_only_the_newest(model, pet_video, tmp_path):
    options = [*EVENTS, "--events-only", "--snapshots", tmp_path, "--keep", "3", "--snapshot-every", "0.25"]
    result = run_cli("catdog-cam", "--model", model, "--source", pet_video, "--no-display", *options, "--snapshot-raw")
    events = json_lines(result.stdout)
    check_events(events)
    saved = sorted(tmp_path.iterdir())
    assert len(saved) == 3 and saved[-1].name.endswith("-dogs.jpg")
    raw = cv2.imread(str(saved[-1]))
    assert raw.shape == (*VIDEO_SIZE[::-1], 3)


@pytest.mark.parametrize(
    "command, said",
    [
        ("/nonexistent/notify-me", "/nonexistent/notify-me: no such command"),
        ("sh -c 'cat >/dev/null; exit 3'", "exited with status 3"),
        ("sleep 30", "killed after 0.5 s"),
    ],
)
def test_a_failing_hook_is_said_once_and_the_loop_goes_on(model, pet_video, command, said):
    result = run_cli(
        "catdog-cam", "--model", model, "--source", pet_video, "--no-display", *EVENTS, "--events-only",
        "--on-event", command, "--on-event-timeout", "0.5", "--realtime",
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr
    check_events(json_lines(result.stdout))
    lines = [line for line in result.stderr.splitlines() if "--on-event" in line]
    assert lines == [f"catdog-cam: --on-event {command!r}: {said} (said once)"]


def test_systemd_is_told_ready_and_the_watchdog_is_fed(model, pet_video, tmp_path):
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(0.5)
        env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "400000"}  # a ping at least every 0.2 s
        cam = start_cam(model, pet_video, "--realtime", "--events-only", env=env)
        messages = []
        while cam.poll() is None or messages[-1:] != ["STOPPING=1"]:
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                if cam.poll() is not None:
                    break
        cam.communicate(timeout=30)
    assert cam.returncode == 0
    assert messages[0].startswith("READY=1") and messages[-1] == "STOPPING=1"
    assert messages.count("WATCHDOG=1") >= 5  # a 10 s video: about 25 pings


def test_healthz_is_200_while_frames_arrive_and_503_when_they_stop():
    from catdog.runtime.serve import LiveView

    with LiveView("127.0.0.1", 0, lambda image, record: image, healthy_age_s=0.5) as view:
        host, port = view.address
        status, body = get(host, port, "/healthz")
        assert status == 503 and json.loads(body)["error"] == "no frame classified yet"
        view.publish(np.zeros((48, 64, 3), np.uint8), {"fps": 4.0})
        status, body = get(host, port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        wait_until(lambda: get(host, port, "/healthz")[0] == 503, 10, "503 for an old frame")
        reason = json.loads(get(host, port, "/healthz")[1])["error"]
        assert reason.startswith("the newest frame is ") and reason.endswith(" s old (limit 0.5 s)")


def test_healthz_of_a_running_camera(model, pet_video):
    port = free_port()
    cam = start_cam(model, pet_video, "--realtime", "--events-only", "--serve", f"127.0.0.1:{port}")
    try:
        wait_until(lambda: cam.poll() is None and get_ok(port, "/healthz"), 60, "/healthz 200")
    finally:
        cam.send_signal(signal.SIGTERM)
        cam.communicate(timeout=30)


def get_ok(port: int, path: str) -> bool:
    try:
        return get("127.0.0.1", port, path)[0] == 200
    except OSError:
        return False


def test_the_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (.ci/run installs systemd)"
    unit = (ROOT / "deploy" / "catdog-cam.service").read_text()
    for needed in (
        "Restart=on-failure",
        "WatchdogSec=",
        "EnvironmentFile=",
        "User=",
        "WorkingDirectory=",
        "Type=notify",
    ):
        assert needed in unit
    # Here, with this clone's paths in place of the Pi's (verify checks that ExecStart's program exists).
    here = unit.replace("/home/pi/catdog/.venv/bin/catdog-cam", str(CAM)).replace("/home/pi/catdog", str(ROOT))
    (tmp_path / "catdog-cam.service").write_text(here.replace("User=pi", "User=root"))
    result = subprocess.run([analyze, "verify", tmp_path / "catdog-cam.service"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
