"""The documentation lives in the repository: a short README, and docs/ whose links all resolve inside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def links(text: str) -> list[str]:
    """Targets of the inline and reference-style links and images of a markdown text, code left out."""
    prose = _CODE_SPAN.sub("", _FENCE.sub("", text))
    return _LINK.findall(prose) + _REFERENCE.findall(prose)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        base = slug(heading)
        name, n = base, 1
        while name in found:  # repeated headings get -1, -2, ...
            name, n = f"{base}-{n}", n + 1
        found.add(name)
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_helpers_find_links_and_anchors():
    text = "See [a](docs/a.md#x-y), ![img](img/p.png) and `[not](a link)`.\n```\n[no](fenced.md)\n```\n[r]: b.md\n"
    assert links(text) == ["docs/a.md#x-y", "img/p.png", "b.md"]
    assert slug("1.1 Balanced demonstrations (Chain-of-Draft)") == "11-balanced-demonstrations-chain-of-draft"
    assert slug("α^D — data-level hardness") == "αd--data-level-hardness"
    assert slug("Judge validation and evaluation sets") == "judge-validation-and-evaluation-sets"


def test_readme_is_short_and_names_the_ci_command():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 220, f"README.md has {len(text.splitlines())} lines (at most ~200)"
    assert "make test" in text


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_resolves_inside_the_repository(page: Path):
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        file_part, _, fragment = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not destination.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target} (no heading #{fragment} in {rel(destination)})")
    assert not broken, f"{rel(page)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_docs_speak_of_the_project_only(page: Path):
    text = page.read_text(encoding="utf-8")
    for outside in ("../shared", "DESIGN.md"):
        assert outside not in text, f"{rel(page)} mentions {outside!r}, which is not part of the repository"
    issue = re.search(r"\b(?:issues?|PR)\s*#?\d+", text, re.IGNORECASE)
    assert issue is None, f"{rel(page)} refers to {issue.group(0)!r}: user docs name no issue numbers"
