"""Check the hand-made ground truth of the real development set.

    /work/main/.venv/bin/python bench/realset/check_truth.py

For every ``truth/<id>.txt`` and every page of ``manifest.json`` it checks that:

- the file is UTF-8, NFC, ends with one newline, has no blank, padded or tab-holding line;
- every letter is ASCII or a Vietnamese letter (the 12 vowels with their tones, đ/Đ), so a
  lookalike such as Ð (U+00D0, Icelandic eth) for Đ, a decomposed mark, or a Latin letter
  Vietnamese does not use cannot slip in;
- no word carries two tone marks and no tone mark sits on a non-vowel;
- manifest and truth folder list the same pages, each page checked by eye.

Exit status 0 when all is well, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền sắc ngã hỏi nặng
VOWELS = "aăâeêioôơuưy"
CATEGORIES = {"scan200", "sample300", "typeset"}
FIELDS = {"id", "source", "page", "category", "native_dpi", "notes", "checked_by_eye"}


def vietnamese_letters() -> set[str]:
    """All precomposed Vietnamese letters (both cases) beyond ASCII, plus đ and Đ."""
    letters = {"đ", "Đ"}
    for vowel in VOWELS:
        for tone in ("", *sorted(TONES)):
            for case in (vowel, vowel.upper()):
                letters.add(unicodedata.normalize("NFC", case + tone))
    return {c for c in letters if not c.isascii()}


def tone_problems(word: str) -> list[str]:
    """Problems with the tone marks of one run of letters (empty list when fine)."""
    problems = []
    decomposed = unicodedata.normalize("NFD", word)
    tones = [c for c in decomposed if c in TONES]
    if len(tones) > 1:
        problems.append(f"two tone marks in {word!r}")
    for index, char in enumerate(decomposed):
        if char in TONES:
            base = unicodedata.normalize("NFD", decomposed[:index])
            letters = [c for c in base if not unicodedata.combining(c)]
            if not letters or letters[-1].lower() not in "aeiouy":
                problems.append(f"tone mark on a non-vowel in {word!r}")
    return problems


def check_text(name: str, text: str, allowed: set[str]) -> list[str]:
    """Problems found in one truth file's text, each prefixed with ``name``."""
    problems = []
    if unicodedata.normalize("NFC", text) != text:
        problems.append(f"{name}: not NFC")
    if not text.endswith("\n") or text.endswith("\n\n"):
        problems.append(f"{name}: must end with exactly one newline")
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{name}:{number}"
        if not line.strip():
            problems.append(f"{where}: blank line")
        if line != line.strip() or "\t" in line or "  " in line:
            problems.append(f"{where}: leading, trailing, double or tab whitespace")
        for char in line:
            if unicodedata.combining(char):
                problems.append(f"{where}: loose combining mark U+{ord(char):04X}")
            elif char.isalpha() and not char.isascii() and char not in allowed:
                problems.append(
                    f"{where}: non-Vietnamese letter {char!r} U+{ord(char):04X} "
                    f"({unicodedata.name(char, '?')})"
                )
        for word in re.findall(r"[^\W\d_]+", line):
            problems.extend(f"{where}: {p}" for p in tone_problems(word))
    return problems


def check_manifest(manifest: dict, truth_dir: Path) -> list[str]:
    """Problems with ``manifest.json`` against the truth folder."""
    problems = []
    pages = manifest.get("pages", [])
    ids = [page.get("id") for page in pages]
    if len(ids) != len(set(ids)):
        problems.append("manifest: duplicate page ids")
    for page in pages:
        missing = FIELDS - page.keys()
        if missing:
            problems.append(f"manifest {page.get('id')}: missing {sorted(missing)}")
        if page.get("category") not in CATEGORIES:
            problems.append(f"manifest {page.get('id')}: category {page.get('category')!r}")
        if page.get("checked_by_eye") is not True:
            problems.append(f"manifest {page.get('id')}: not checked by eye")
        if "." in str(page.get("id")):
            problems.append(f"manifest {page.get('id')}: ids must not contain dots")
    on_disk = {path.stem for path in truth_dir.glob("*.txt")}
    for stray in sorted(on_disk - set(ids)):
        problems.append(f"truth/{stray}.txt has no manifest entry")
    for absent in sorted(set(ids) - on_disk):
        problems.append(f"manifest page {absent} has no truth file")
    return problems


def main() -> int:
    """Run every check over ``bench/realset``; print problems; 0 when there are none."""
    truth_dir = HERE / "truth"
    manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    allowed = vietnamese_letters()
    problems = check_manifest(manifest, truth_dir)
    for path in sorted(truth_dir.glob("*.txt")):
        problems.extend(check_text(path.name, path.read_text(encoding="utf-8"), allowed))
    for problem in problems:
        print(problem)
    count = len(list(truth_dir.glob("*.txt")))
    print(f"{count} truth files, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
