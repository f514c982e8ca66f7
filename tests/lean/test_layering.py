"""The dependency direction: runtime/ imports nothing of ours and never TensorFlow; export/ and train/ import
runtime/; export/ never imports train/. Checked on the source (lazy imports inside functions included) and
in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from support import ROOT

RUNTIME_MODULES = sorted(f"catdog.runtime.{p.stem}" for p in (ROOT / "runtime").glob("*.py") if p.stem != "__init__")


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every module each file of a folder imports, anywhere in it."""
    found = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


@pytest.mark.parametrize(
    "folder, forbidden",
    [
        ("runtime", ("catdog.train", "catdog.export", "tensorflow", "keras", "tf2onnx", "onnx.")),
        ("export", ("catdog.train",)),
    ],
)
def test_no_import_against_the_direction(folder, forbidden):
    wrong = {
        name: sorted(m for m in modules if m.startswith(forbidden) or m in {f.rstrip(".") for f in forbidden})
        for name, modules in imported_modules(folder).items()
    }
    assert not {name: modules for name, modules in wrong.items() if modules}


def test_importing_the_whole_runtime_pulls_in_nothing_heavy():
    code = (
        f"import sys\nfor name in {RUNTIME_MODULES!r}: __import__(name)\n"
        "heavy = {'tensorflow', 'keras', 'picamera2', 'catdog.train', 'catdog.export'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(RUNTIME_MODULES) >= 14
