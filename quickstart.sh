#!/usr/bin/env bash
# One command for a fresh machine: make .venv, install catdog with its training and test extras, then
#   bash quickstart.sh          train the default MobileNetV2 on the default data and export it (int8 included)
#   bash quickstart.sh test     run the lean tests on the base install (.venv-lean), build the docs site
#                               (mkdocs build --strict), then all tests and the benchmark's smoke mode (what CI runs)
# Data and weights: $CATDOG_DATA, $CATDOG_NEGATIVES, $CATDOG_OTHER_PETS and $CATDOG_WEIGHTS_DIR if set; else ../shared/ beside the project if it
# exists (this workplace has no internet); else the code downloads them as on any connected machine.
set -euo pipefail
cd "$(dirname "$0")"
SHARED="$(cd .. && pwd)/shared"
[ -z "${CATDOG_DATA:-}" ] && [ -d "$SHARED/data/cats_and_dogs_filtered" ] && export CATDOG_DATA="$SHARED/data/cats_and_dogs_filtered"
[ -z "${CATDOG_WEIGHTS_DIR:-}" ] && [ -d "$SHARED/weights" ] && export CATDOG_WEIGHTS_DIR="$SHARED/weights"
[ -z "${CATDOG_NEGATIVES:-}" ] && [ -d "$SHARED/data/negatives" ] && export CATDOG_NEGATIVES="$SHARED/data/negatives"
[ -z "${CATDOG_OTHER_PETS:-}" ] && [ -d "$SHARED/data/other_source_pets" ] && export CATDOG_OTHER_PETS="$SHARED/data/other_source_pets"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# Recent pip shows setuptools' "Editable installation" notice for every editable install: a notice, not a problem.
EDITABLE_QUIET="ignore:Editable installation"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
EXTRAS="train,dev"
[ "${1:-train}" = test ] && EXTRAS="train,dev,docs"  # the tests also build the documentation site
PYTHONWARNINGS="$EDITABLE_QUIET" .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"

case "${1:-train}" in
    test)
        # First the lean layer on the base install alone (what goes on the board: no TensorFlow), in seconds;
        # then everything, with the tiny model trained once.
        [ -x .venv-lean/bin/python ] || python3 -m venv .venv-lean
        .venv-lean/bin/python -m pip install --quiet --upgrade pip
        PYTHONWARNINGS="$EDITABLE_QUIET" .venv-lean/bin/python -m pip install --quiet -e . pytest ruff
        .venv-lean/bin/ruff check . && .venv-lean/bin/ruff format --check .
        .venv/bin/lint-imports --no-cache  # the dependency direction: [tool.importlinter] in pyproject.toml
        .venv-lean/bin/python -m pytest -q tests/lean
        # The documentation site, strict: a broken link or anchor, or a page missing from mkdocs.yml's nav, fails.
        # Built into a temporary folder, so that it changes no file of the tree.
        SITE="$(mktemp -d)"
        NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$SITE"
        rm -rf "$SITE"
        tree_state() { git status --porcelain 2>/dev/null; git diff HEAD 2>/dev/null; }
        BEFORE="$(tree_state | sha256sum)"
        .venv/bin/python -m pytest --benchmark --smoke "${@:2}"
        # Neither the tests nor the benchmark may change the tree (a user's measurements go to runs/benchmark/).
        if [ "$(tree_state | sha256sum)" != "$BEFORE" ]; then
            echo "quickstart.sh: the tests or the benchmark changed files of the tree (git status):" >&2
            git status --short >&2
            exit 1
        fi
        ;;
    train)
        .venv/bin/catdog-train --name default "${@:2}"
        exec .venv/bin/catdog-export runs/default --int8 --fp16
        ;;
    *)
        echo "usage: bash quickstart.sh [train|test] [extra arguments]" >&2
        exit 2
        ;;
esac
