"""catdog-cam's window with an OpenCV that has none (opencv-python-headless, the base install's): one line that
says what to do, before anything is loaded. Runs on the base install alone."""

from __future__ import annotations

import cv2
import pytest

from catdog.runtime import cam

HEADLESS = "General configuration for OpenCV 5.1.0 =====\n  GUI:                           NONE\n    VTK: NO\n"
DESKTOP = "General configuration for OpenCV 5.1.0 =====\n  GUI:                           QT5\n    QT: YES\n"


@pytest.mark.parametrize(("build", "has_gui"), [(HEADLESS, False), (DESKTOP, True), ("no GUI section", True)])
def test_gui_is_read_from_the_build_information(build, has_gui, monkeypatch):
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: build)
    assert cam.opencv_has_gui() is has_gui


def test_a_window_without_gui_support_is_one_clear_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: HEADLESS)
    monkeypatch.setenv("DISPLAY", ":0")
    assert cam.main(["--model", str(tmp_path / "not-loaded.tflite"), "--source", str(tmp_path)]) == 2
    assert capsys.readouterr().err == cam.NO_GUI + "\n"
    assert "--no-display" in cam.NO_GUI and "opencv-python" in cam.NO_GUI


def test_no_display_never_asks_opencv_for_its_gui(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: pytest.fail("looked at the GUI without a window"))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.chdir(tmp_path)  # no runs/ here: the model error, not the GUI's
    assert cam.start(cam.parse_args(["--source", "missing-folder", "--no-display"])) == 2
