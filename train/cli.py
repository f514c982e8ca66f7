"""`catdog-train`: parse the command line (and a --config file, or the recipe in the resume point of the run to
--resume) into a TrainConfig (train/config.py), then `train(config)` (train/run.py) with one-line errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from catdog.runtime.files import read_json
from catdog.runtime.folders import RESUME_STATE
from catdog.train.config import ConfigError, TrainConfig, check_config, read_config, state_problem


def parse_args(argv=None) -> TrainConfig:
    """The TrainConfig of a command line. With --config FILE (or --resume RUN: the recipe its resume point
    carries, its folder name and place), the values, checked as the flags are, become the defaults: any flag
    given overrides them. Imports no TensorFlow: it runs before main() quiets it."""
    parser = TrainConfig.parser()
    known, _ = parser.parse_known_args(argv)
    try:
        if known.resume:
            run = Path(known.resume)
            parser.set_defaults(**resume_recipe(run, parser), runs_dir=str(run.parent), name=run.name)
        elif known.config:
            parser.set_defaults(**read_config(known.config, parser))
    except ConfigError as error:
        parser.error(str(error))
    values = vars(parser.parse_args(argv))
    del values["config"]
    try:
        return TrainConfig(**values)
    except ConfigError as error:
        parser.error(str(error))


def resume_recipe(run: Path, parser) -> dict:
    """The option values of the recipe in `run`'s resume point (its hidden folder put in place first if the run
    was killed outright), checked as a --config file's are; ConfigError in one line."""
    if not run.exists():
        recover_killed_run(run)
    state_path = run / RESUME_STATE
    if not state_path.is_file():
        raise ConfigError(
            f"--resume {run}: nothing to resume (no {RESUME_STATE} in it; a run writes one after every epoch "
            "until it ends)"
        )
    try:
        state = read_json(state_path)
    except (OSError, ValueError) as error:
        raise ConfigError(str(error)) from None
    problem = state_problem(state)
    if problem:
        raise ConfigError(f"{state_path} is not a resume point catdog-train wrote: {problem}")
    return check_config(state["recipe"], f"{state_path}'s recipe", parser)


def recover_killed_run(run: Path) -> None:
    """Put in place, as `run`, the hidden folder that a run of that name left when it was killed outright
    (SIGKILL, a power cut: no chance to put its folder in place) after at least one epoch."""
    from catdog.runtime.files import leftovers

    killed = [folder for folder, kind, _ in leftovers(run) if kind == "partial" and (folder / RESUME_STATE).is_file()]
    if killed:
        newest = max(killed, key=lambda folder: (folder / RESUME_STATE).stat().st_mtime)
        os.rename(newest, run)
        print(f"catdog-train: {run} put in place from {newest.name}, left by a run that was killed", file=sys.stderr)


def main(argv=None) -> int:
    """Entry point of catdog-train: parse, then train; clear one-line errors, non-zero exit."""
    config = parse_args(argv)
    from catdog.export.noise import quiet_tensorflow
    from catdog.runtime.datasets import DataError
    from catdog.runtime.images import skipped_lines

    with quiet_tensorflow(not config.verbose):
        from catdog.train.models import ModelError  # imports TensorFlow
        from catdog.train.run import train

        try:
            train(config)
        except (DataError, ModelError, OSError) as error:
            for line in skipped_lines(getattr(error, "skipped", {})):
                print(f"catdog-train: {line}", file=sys.stderr)
            print(f"catdog-train: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as error:
            print(
                f"catdog-train: interrupted; {error or 'no epoch had finished: no run folder was left'}",
                file=sys.stderr,
            )
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
