"""mkdocs hook: the pages link to the project's own files outside docs/ (benchmark results, their figures,
deploy/catdog-cam.service) with relative paths such as `../benchmarks/results/report.md`, which work when the
Markdown is read in the repository. For the site, each such file that exists is copied in under `_repo/` and the
link is pointed at the copy; a link to a file that does not exist is left alone, so that `mkdocs build --strict`
fails on it."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "_repo"
LINK = re.compile(r"(\]\()(\.\./[^)\s#]+)((?:#[^)\s]*)?\))")


class RepoFile(File):
    """A project file copied into the site as it is (a Markdown file too: shown as text, not built as a page)."""

    def is_documentation_page(self) -> bool:
        return False

    def is_static_page(self) -> bool:
        return False

    def is_media_file(self) -> bool:
        return True


def _outside(page_uri: str, target: str) -> Path | None:
    """The project file a page's relative link names, if it lies outside docs/ and exists."""
    docs_relative = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), target))
    if not docs_relative.startswith("../"):
        return None
    path = (ROOT / "docs" / docs_relative).resolve()
    try:
        path.relative_to(ROOT)
    except ValueError:
        return None
    return path if path.is_file() else None


def on_files(files, config):
    for page in list(files.documentation_pages()):
        text = Path(page.abs_src_path).read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            path = _outside(page.src_uri, match.group(2))
            if path is None:
                continue
            uri = f"{PREFIX}/{path.relative_to(ROOT).as_posix()}"
            if files.get_file_from_path(uri) is None:
                copy = RepoFile(uri, str(ROOT), config["site_dir"], config["use_directory_urls"])
                copy.abs_src_path = str(path)
                copy.inclusion = InclusionLevel.INCLUDED
                files.append(copy)
    return files


def on_page_markdown(markdown, page, config, files):
    depth = page.file.src_uri.count("/")

    def rewrite(match: re.Match) -> str:
        path = _outside(page.file.src_uri, match.group(2))
        if path is None:
            return match.group(0)
        return f"{match.group(1)}{'../' * depth}{PREFIX}/{path.relative_to(ROOT).as_posix()}{match.group(3)}"

    return LINK.sub(rewrite, markdown)
