"""The README is a front door: short, the three commands in order, every docs page linked, no link broken."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: [text](target) and ![alt](target); a target ends at whitespace or ")", an optional "title" is ignored.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def unfenced(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "", unfenced(text))


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I) and not t.startswith("#")]


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", unfenced(page.read_text(encoding="utf-8")).replace("`", ""), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_is_a_front_door() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 220


def test_readme_gives_the_three_commands_in_order() -> None:
    text = README.read_text(encoding="utf-8")
    where = [text.find(f"\nmake {command} ") for command in ("setup", "quickstart", "test")]
    assert -1 not in where and where == sorted(where), where


def test_every_relative_link_points_to_a_file() -> None:
    broken = []
    for page in pages():
        for target in relative_links(page):
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve()
            if not file.is_file():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    docs = sorted(DOCS.glob("*.md"))
    assert docs, "docs/ holds no page"
    assert [p.name for p in docs if p.resolve() not in linked] == []


def test_every_docs_page_has_a_title_and_links_back() -> None:
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        assert text.startswith("# "), f"{page.name}: starts with its title"
        assert "../README.md" in relative_links(page), f"{page.name}: no link back to the README"
