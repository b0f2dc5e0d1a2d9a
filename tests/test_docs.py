"""The specification ships with the code (issue 10, item 6).

Every "spec §N" citation names a section of docs/spec.md, no file points at the spec's old
home outside the repository, the links of the spec pages resolve, and the per-task
sparsities of docs/reference-numbers.md are the ones ``--preset paper`` uses.
"""

import re
from pathlib import Path

import pytest

from rlx2.presets import PAPER_SPARSITIES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SPEC = DOCS / "spec.md"
REFERENCE_NUMBERS = DOCS / "reference-numbers.md"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".txt"}
# Where the spec and the paper's numbers lived before they moved into docs/.
OUTSIDE_NAMES = ("REFERENCE_NUMBERS.md", "RLX2.md", "../shared", "shared/spec")
# "§N" and "§N.M" cite docs/spec.md only ("STYLE §N" the style guide); other sources say "section".
CITATION = re.compile(r"(?<!STYLE )§(\d+(?:\.\d+)?)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def text_files(*tops: str) -> list[Path]:
    files = []
    for top in tops:
        path = ROOT / top
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [p for p in candidates if p.is_file() and p.suffix in TEXT_SUFFIXES]
    return files


def markdown_lines(path: Path) -> list[str]:
    """Lines of a markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def spec_sections() -> set[str]:
    """'1'…'9' from '## N. Title' headings, '7.1'… from '### N.M Title' headings."""
    sections = set()
    for line in markdown_lines(SPEC):
        match = re.match(r"## (\d+)\. ", line) or re.match(r"### (\d+\.\d+) ", line)
        if match:
            sections.add(match.group(1))
    return sections


def anchors(path: Path) -> set[str]:
    """GitHub's heading slugs (with -1, -2 … for repeats) and explicit <a id> anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in markdown_lines(path):
        found.update(re.findall(r'<a id="([^"]+)">', line))
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_spec_has_sections_1_to_9_and_the_quirks_of_section_7():
    sections = spec_sections()
    assert {str(n) for n in range(1, 10)} <= sections
    assert {f"7.{n}" for n in range(1, 6)} <= sections


def test_every_spec_citation_names_a_section_of_docs_spec_md():
    sections = spec_sections()
    dangling = [
        f"{path.relative_to(ROOT)}:{number}: §{section}"
        for path in text_files("src", "docs", "README.md", "tests", "benchmarks", "experiments")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for section in CITATION.findall(line)
        if section not in sections
    ]
    assert not dangling, "citations of sections docs/spec.md lacks:\n" + "\n".join(dangling)


def test_nothing_cites_the_spec_outside_the_repository():
    files = text_files("src", "docs", "README.md", "tests", "benchmarks", "experiments")
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path in files
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for name in OUTSIDE_NAMES
        if name in line
    ]
    assert not offending, "cite docs/spec.md or docs/reference-numbers.md instead:\n" + "\n".join(
        offending
    )


@pytest.mark.parametrize("page", [SPEC, REFERENCE_NUMBERS], ids=lambda p: p.name)
def test_links_of_the_spec_pages_resolve(page):
    broken = []
    for line in markdown_lines(page):
        for target in LINK.findall(line):
            if "://" in target:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and anchor not in anchors(linked):
                broken.append(f"{target}: no such heading")
    assert not broken, "\n".join(broken)


def test_reference_numbers_hold_the_sparsities_of_preset_paper():
    rows = {}
    for line in markdown_lines(REFERENCE_NUMBERS):
        # | HalfCheetah (17/6) | 90 % / 85 % | 90 % / 80 % |
        match = re.match(r"\| (\w+) \(\d+/\d+\) \| (\d+) % / (\d+) % \| (\d+) % / (\d+) % \|", line)
        if match:
            task, *percents = match.groups()
            td3_actor, td3_critic, sac_actor, sac_critic = (int(p) / 100 for p in percents)
            rows[task] = {"td3": (td3_actor, td3_critic), "sac": (sac_actor, sac_critic)}
    from_doc = {algo: {task: rows[task][algo] for task in rows} for algo in ("td3", "sac")}
    assert from_doc == PAPER_SPARSITIES
