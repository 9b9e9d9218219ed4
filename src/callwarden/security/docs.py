"""Regenerate the access table in docs/access.md: `python -m callwarden.security.docs`."""

from __future__ import annotations

import sys
from pathlib import Path

from callwarden.config import Settings
from callwarden.security.api import access_table_markdown

START, END = "<!-- access-table:start -->\n", "<!-- access-table:end -->"


def render(doc: Path) -> str:
    """The document with its access table replaced by the one generated from the routes."""
    from callwarden.app import create_app

    app = create_app(Settings(database_url="sqlite://"))
    text = doc.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + access_table_markdown(app) + END + tail


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/access.md")
    target.write_text(render(target))
    print(f"updated {target}")
