"""MkDocs hook: a line ``<!-- include: PATH -->`` in a page is replaced by the file at PATH
(relative to the repository root), so the broker and data-source pages show the plugin READMEs
themselves, never a copy that drifts. Their links to the project README (``../README.md``)
become links to the home page (the including pages sit one folder down, as the READMEs do).
A missing file fails the build."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"^<!-- include: (\S+) -->$", re.M)


def _include(match: re.Match[str]) -> str:
    path = ROOT / match.group(1)
    if not path.is_file():
        raise FileNotFoundError(f"docs include: no file {path}")
    return path.read_text(encoding="utf-8").replace("](../README.md)", "](../index.md)")


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    return INCLUDE.sub(_include, markdown)
