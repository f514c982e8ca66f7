"""The documentation and the commands cannot drift apart: every option a command's --help shows appears on that
command's pages, and every option the README and docs/ name for a command exists in its parser. The parsers are
read live from the code (the console scripts of pyproject.toml), without TensorFlow: each command's argument
parser is caught at its first parse, before anything else runs."""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from support import ROOT

DOCS = ROOT / "docs"
COMMANDS = ("catdog-train", "catdog-eval", "catdog-export", "catdog-predict", "catdog-cam", "catdog-tune")
# Where each command's options are documented: an option of its --help must appear on one of these pages.
PAGES = {
    "catdog-train": ("training.md", "tuning.md"),
    "catdog-eval": ("training.md",),
    "catdog-export": ("export.md",),
    "catdog-predict": ("predict.md",),
    "catdog-cam": ("camera.md", "monitor.md", "access.md", "predict.md", "pi.md"),
    "catdog-tune": ("tuning.md",),
}
# A bare `--option` on these pages (not after a command's name) must be an option of one of their commands.
PAGE_COMMANDS = {
    "training.md": ("catdog-train", "catdog-eval"),
    "tuning.md": ("catdog-train", "catdog-tune"),
    "export.md": ("catdog-export",),
    "predict.md": ("catdog-predict", "catdog-cam"),
    "camera.md": ("catdog-cam",),
    "monitor.md": ("catdog-cam",),
    "access.md": ("catdog-cam",),
}
OPTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)(?![\w*-])")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


class _Caught(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


@cache
def parser_of(command: str) -> argparse.ArgumentParser:
    """The argument parser of a console script, caught at its first parse: the module's parse_args if it has
    one, else its entry point (pyproject.toml's [project.scripts])."""
    pyproject = (
        ROOT / "pyproject.toml"
    ).read_text()  # [project.scripts]: name = "module:function" (no tomllib on 3.10)
    module_name, function = re.search(rf'^{command} = "([\w.]+):(\w+)"', pyproject, re.M).groups()
    module = importlib.import_module(module_name)
    entry = getattr(module, "parse_args", None) or getattr(module, function)

    def catch(self, *args, **kwargs):
        raise _Caught(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
        try:
            entry(["--help"])
        except _Caught as caught:
            return caught.parser
    raise AssertionError(f"{command}: {module_name}.{entry.__name__} parsed no arguments")


def options_of(command: str) -> set[str]:
    """Every long option of the command, shown in --help or not."""
    return {text for action in parser_of(command)._actions for text in action.option_strings if text[:2] == "--"}


def help_options(command: str) -> set[str]:
    """The long options --help shows (not -h/--help itself, nor options hidden with argparse.SUPPRESS)."""
    return {
        text
        for action in parser_of(command)._actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)
        for text in action.option_strings
        if text[:2] == "--"
    }


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def code_lines(text: str) -> list[str]:
    """The lines of the fenced code blocks, with backslash continuations joined and comments removed."""
    lines = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            lines.append(re.split(r"(?:^|\s)#\s", line, maxsplit=1)[0])
    return lines


def segments(line: str) -> list[list[str]]:
    """A shell line's simple commands as tokens, without the environment assignments in front and the
    redirections and `&` behind."""
    found = []
    for part in re.split(r"&&|\|\|?|;", line):
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        while tokens and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", tokens[0]):
            tokens = tokens[1:]
        redirect = next((index for index, token in enumerate(tokens) if re.match(r"\d?[<>]|&$", token)), None)
        tokens = tokens[:redirect]
        if tokens:
            found.append(tokens)
    return found


def usages(text: str) -> list[tuple[str, list[str], bool]]:
    """Each catdog command shown: (command, its arguments, whether it is in a code block, to be run as it is)."""
    found = []
    for line in code_lines(text):
        found += [(tokens[0], tokens[1:], True) for tokens in segments(line) if tokens[0] in COMMANDS]
    prose = FENCE.sub("", text)
    for span in SPAN.findall(prose):
        found += [
            (tokens[0], tokens[1:], False) for tokens in segments(" ".join(span.split())) if tokens[0] in COMMANDS
        ]
    return found


def bare_options(text: str) -> set[str]:
    """Options named in inline code that does not start with a command: `--epochs`, `--min-probability P`."""
    return {
        match for span in SPAN.findall(FENCE.sub("", text)) if span.startswith("--") for match in OPTION.findall(span)
    }


def unreadable() -> list[str]:
    """The commands whose parser cannot be read, each with the reason (one line each, in the assertion)."""
    found = []
    for command in COMMANDS:
        try:
            parser_of(command)
        except Exception as error:  # an import that fails names itself here rather than as a traceback
            found.append(f"{command}: its parser could not be read: {type(error).__name__}: {error}")
    return found


def test_every_option_of_every_help_is_on_its_commands_pages():
    missing = unreadable()
    for command in COMMANDS:
        if any(line.startswith(f"{command}:") for line in missing):
            continue
        texts = {name: (DOCS / name).read_text() for name in PAGES[command] if (DOCS / name).exists()}
        everywhere = "\n".join(texts.values())
        for option in sorted(help_options(command)):
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", everywhere):
                missing.append(f"{command} {option}: in --help, on none of {', '.join(f'docs/{n}' for n in texts)}")
    assert not missing, "options of --help that the docs do not mention:\n" + "\n".join(missing)


def test_every_option_the_docs_name_exists():
    unknown = unreadable()
    broken = {line.split(":")[0] for line in unknown}
    for page in pages():
        text, where = page.read_text(), page.relative_to(ROOT)
        for command, arguments, _ in usages(text):
            if command in broken:
                continue
            for token in arguments:
                option = token.split("=", 1)[0]
                if OPTION.fullmatch(option) and option not in options_of(command):
                    unknown.append(f"{where}: {command} {option}: no such option")
        commands = PAGE_COMMANDS.get(page.name, ())
        if broken & set(commands):
            continue
        known = set().union(*(options_of(command) for command in commands)) if commands else set()
        for option in sorted(bare_options(text) - known if commands else ()):
            unknown.append(f"{where}: {option}: not an option of {' or '.join(commands)}")
    assert not unknown, "options the docs name that the commands do not have:\n" + "\n".join(sorted(set(unknown)))


def test_the_checks_catch_a_missing_and_an_unknown_option():
    assert "--clip" in help_options("catdog-predict") and "--help" not in help_options("catdog-predict")
    text = "```sh\ncatdog-predict --model m --no-such-flag photos/   # a comment --not-this\n```\n`--clip EPS`"
    assert usages(text) == [("catdog-predict", ["--model", "m", "--no-such-flag", "photos/"], True)]
    assert bare_options(text) == {"--clip"}
    assert "--no-such-flag" not in options_of("catdog-predict")
