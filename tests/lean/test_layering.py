"""The dependency direction: runtime/ imports nothing of ours and never TensorFlow; export/ and train/ import
runtime/; export/ never imports train/. On the source (lazy imports inside functions included) `lint-imports`
checks it ([tool.importlinter] in pyproject.toml, run by quickstart.sh test); here, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

RUNTIME_MODULES = sorted(f"catdog.runtime.{p.stem}" for p in (ROOT / "runtime").glob("*.py") if p.stem != "__init__")


def test_importing_the_whole_runtime_pulls_in_nothing_heavy():
    code = (
        f"import sys\nfor name in {RUNTIME_MODULES!r}: __import__(name)\n"
        "heavy = {'tensorflow', 'keras', 'picamera2', 'catdog.train', 'catdog.export'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(RUNTIME_MODULES) >= 14
