"""Every relative link and image of README.md and docs/*.md points at a file that exists, and every
#anchor at a heading of that file, as GitHub renders it. Web links are not followed (no network)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
PARSER = MarkdownIt("commonmark").enable("table")


def inline_tokens(markdown: str):
    for token in PARSER.parse(markdown):
        if token.type == "inline":
            yield token


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens
    (github-slugger, which github.com follows)."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Heading ids of a page; a repeated heading gets -1, -2... as on GitHub."""
    tokens = PARSER.parse(page.read_text())
    seen: dict[str, int] = {}
    found = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        text = "".join(child.content for child in inline.children or [])
        anchor = github_anchor(text)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def targets(page: Path) -> list[str]:
    found = []
    for inline in inline_tokens(page.read_text()):
        for child in inline.children or []:
            if child.type == "link_open":
                found.append(child.attrs["href"])
            elif child.type == "image":
                found.append(child.attrs["src"])
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in targets(page):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue  # a web link
        path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif parts.fragment and (
            path.suffix != ".md" or unquote(parts.fragment) not in anchors(path)
        ):
            broken.append(f"{target}: no heading #{parts.fragment} in {path.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_a_missing_file_and_a_missing_heading_are_reported(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Tear down\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#tear-down) [gone](missing.md) [wrong](other.md#teardown)\n"
        "[web](https://example.com/x#y) [self](#page)\n\n```bash\n# not a heading\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#teardown: no heading #teardown in other.md",
    ]


def test_headings_get_githubs_anchors():
    assert github_anchor("CI/CD") == "cicd"
    assert github_anchor("2. First release (`make`)") == "2-first-release-make"
    assert github_anchor("What it costs") == "what-it-costs"
