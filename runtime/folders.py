"""The folders the commands hand each other, defined once: a run folder (catdog-train writes it: model.keras,
config.json, split.json, ...; export/ inside it), an export folder (catdog-export: artifacts with sidecars and
parity.json), and the one rule for "which model" that every command uses when it is not told: the default
run's export (runs/default/export, what quickstart.sh makes) when it is complete, else the newest complete one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catdog.runtime.files import read_json
from catdog.runtime.kinds import KINDS
from catdog.runtime.metadata import sidecar_path

RUNS = Path("runs")  # where catdog-train puts run folders by default
DEFAULT_RUN = "default"  # the run folder name of the default model (quickstart.sh: catdog-train --name default)
MODEL, CONFIG, SPLIT, EXPORT = "model.keras", "config.json", "split.json", "export"
METRICS, HISTORY = "metrics.json", "history.json"  # the validation figures; every epoch's losses
# While a run trains: its best checkpoint, and its resume point (the model with its optimizer state, and the rest).
CHECKPOINT, RESUME_MODEL, RESUME_STATE = "checkpoint-best.keras", "resume.keras", "resume.json"
PARITY = "parity.json"  # written into every complete export folder


@dataclass(frozen=True)
class RunFolder:
    """A run folder: what catdog-train wrote. `config` and `split` raise ValueError naming a file that is not
    valid JSON; a file that is not there reads as empty (config) or None (split)."""

    path: Path

    @classmethod
    def of_model(cls, model: str | Path) -> RunFolder:
        """The run folder of a run folder or of a model.keras file given on a command line."""
        model = Path(model)
        return cls(model if model.is_dir() else model.parent)

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def export(self) -> Path:
        return self.path / EXPORT

    def config(self) -> dict:
        return read_json(self.path / CONFIG) if (self.path / CONFIG).is_file() else {}

    def split(self) -> dict | None:
        return read_json(self.path / SPLIT) if (self.path / SPLIT).is_file() else None


def validation_items(split: dict) -> list[tuple[str, int]]:
    """A run's validation split (split.json, as RunFolder.split reads it) as (path, class index) items: what a
    command scores a run on when not given --data (catdog-export, catdog-eval, the benchmark)."""
    return [(str(path), int(label)) for path, label in split["validation"]]


def is_export(folder: Path) -> bool:
    """Whether a folder holds at least one artifact with its sidecar."""
    return any((folder / kind.filename).is_file() and sidecar_path(folder / kind.filename).is_file() for kind in KINDS)


def newest_export(runs: Path = RUNS) -> Path | None:
    """The complete export folder (artifacts and parity.json) under runs/*/export written last, or None."""
    exports = [path for path in Path(runs).glob(f"*/{EXPORT}") if (path / PARITY).is_file() and is_export(path)]
    return max(exports, key=lambda path: (path / PARITY).stat().st_mtime, default=None)


def default_export(runs: Path = RUNS) -> tuple[Path | None, str]:
    """The export folder a command uses when not told which, and why: runs/default/export if it is complete (a
    quick experiment exported later never replaces the default model silently), else the newest complete one."""
    default = Path(runs) / DEFAULT_RUN / EXPORT
    if (default / PARITY).is_file() and is_export(default):
        return default, "the default model"
    newest = newest_export(runs)
    return newest, f"no complete {default}: the newest export" if newest else ""
