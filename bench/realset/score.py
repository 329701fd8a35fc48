"""Score OCR output on the real development set against its hand-made ground truth.

    /work/main/.venv/bin/python bench/realset/score.py OCR_DIR [--truth DIR]
        [--manifest FILE] [--json FILE] [--quiet]

``OCR_DIR`` holds one text file per page read: ``<id>.txt`` for the page as scanned and
``<id>.<variant>.txt`` for a degraded copy (bench/realset/degrade.py). Each is compared
with ``truth/<id>.txt``, so every variant keeps its page's truth.

Three measures, per page and pooled per category and variant:

- exact word recall: the share of the truth's word occurrences found in the output, as
  multisets (a word twice in the truth must be read twice); punctuation and symbols are
  stripped from both ends of a word; case and diacritics must match;
- folded word recall: the same after folding both sides as search does for a query
  typed without marks (NFD, combining marks dropped, đ → d, Đ → D, lower case);
- CER: Levenshtein distance between the whitespace-normalised NFC texts divided by the
  truth's length, in reading order (a header read right column first costs characters).

Pooled figures add up words (and edits and characters) over the pages of a group, so a
long page weighs more than a short one.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

HERE = Path(__file__).resolve().parent


def normalise(text: str) -> str:
    """NFC text with every run of whitespace (line breaks and form feeds too) as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def fold(word: str) -> str:
    """Diacritic-folded form: NFD, combining marks dropped, đ/Đ → d/D, then lower case."""
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).lower()


def _is_edge_junk(char: str) -> bool:
    """True for punctuation and symbols, which do not count as part of a word at its ends."""
    return unicodedata.category(char)[0] in "PS"


def strip_word(token: str) -> str:
    """``token`` without the punctuation and symbols at its start and end."""
    start, end = 0, len(token)
    while start < end and _is_edge_junk(token[start]):
        start += 1
    while end > start and _is_edge_junk(token[end - 1]):
        end -= 1
    return token[start:end]


def words(text: str, *, folded: bool = False) -> Counter[str]:
    """Multiset of the words of ``text`` (NFC, ends stripped), folded when asked."""
    counts: Counter[str] = Counter()
    for token in normalise(text).split(" "):
        word = strip_word(token)
        if word:
            counts[fold(word) if folded else word] += 1
    return counts


def found_words(truth: str, ocr: str, *, folded: bool = False) -> tuple[int, int]:
    """(truth word occurrences found in ``ocr``, truth word occurrences), multiset-wise."""
    want = words(truth, folded=folded)
    have = words(ocr, folded=folded)
    found = sum(min(count, have[word]) for word, count in want.items())
    return found, sum(want.values())


def char_errors(truth: str, ocr: str) -> tuple[int, int]:
    """(Levenshtein edits from truth to ocr, truth length), whitespace-normalised NFC."""
    ref = normalise(truth)
    return Levenshtein.distance(ref, normalise(ocr)), len(ref)


@dataclass
class Score:
    """Counts behind the three measures; add scores to pool them, read rates off them."""

    words: int = 0
    exact_found: int = 0
    folded_found: int = 0
    edits: int = 0
    chars: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(
            self.words + other.words,
            self.exact_found + other.exact_found,
            self.folded_found + other.folded_found,
            self.edits + other.edits,
            self.chars + other.chars,
        )

    @property
    def exact(self) -> float:
        """Exact word recall (1.0 for an empty truth)."""
        return self.exact_found / self.words if self.words else 1.0

    @property
    def folded(self) -> float:
        """Diacritic-folded word recall (1.0 for an empty truth)."""
        return self.folded_found / self.words if self.words else 1.0

    @property
    def cer(self) -> float:
        """Character error rate (0.0 for an empty truth)."""
        return self.edits / self.chars if self.chars else 0.0


def score_text(truth: str, ocr: str) -> Score:
    """All counts for one page read against its truth."""
    exact_found, total = found_words(truth, ocr)
    folded_found, _ = found_words(truth, ocr, folded=True)
    edits, chars = char_errors(truth, ocr)
    return Score(total, exact_found, folded_found, edits, chars)


def split_name(path: Path) -> tuple[str, str]:
    """(page id, variant) of an OCR output file; the variant of ``<id>.txt`` is ``orig``."""
    stem = path.name.removesuffix(".txt")
    page, _, variant = stem.partition(".")
    return page, variant or "orig"


def load_manifest(path: Path) -> dict[str, dict]:
    """Pages of the development set's manifest, by id."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {page["id"]: page for page in data["pages"]}


def score_dir(ocr_dir: Path, truth_dir: Path, pages: dict[str, dict]) -> list[dict]:
    """One row per OCR file whose page has a truth: id, category, variant and its Score."""
    rows = []
    for path in sorted(ocr_dir.glob("*.txt")):
        page, variant = split_name(path)
        truth_path = truth_dir / f"{page}.txt"
        if page not in pages or not truth_path.exists():
            continue
        truth = truth_path.read_text(encoding="utf-8")
        ocr = path.read_text(encoding="utf-8", errors="replace")
        rows.append(
            {
                "id": page,
                "category": pages[page]["category"],
                "variant": variant,
                "score": score_text(truth, ocr),
            }
        )
    return rows


def pool(rows: list[dict], *keys: str) -> dict[tuple, Score]:
    """Scores added up over the rows sharing the values of ``keys``."""
    groups: dict[tuple, Score] = defaultdict(Score)
    for row in rows:
        key = tuple(row[k] for k in keys)
        groups[key] = groups[key] + row["score"]
    return dict(groups)


def variant_order(name: str) -> tuple[int, str]:
    """Sort key putting the original first and the variants after it by name."""
    return (0 if name == "orig" else 1, name)


def format_table(title: str, labels: tuple[str, ...], groups: dict[tuple, Score]) -> str:
    """A plain-text table: one line per group with words, exact, folded recall and CER."""
    widths = [
        max([len(label), *(len(str(key[i])) for key in groups)]) for i, label in enumerate(labels)
    ]
    head = "  ".join(label.ljust(w) for label, w in zip(labels, widths, strict=True))
    lines = [title, f"{head}  {'words':>6}  {'exact':>6}  {'folded':>6}  {'CER':>6}"]
    for key in sorted(groups, key=lambda k: tuple(variant_order(str(v)) for v in k)):
        score = groups[key]
        cells = "  ".join(str(value).ljust(w) for value, w in zip(key, widths, strict=True))
        lines.append(
            f"{cells}  {score.words:>6}  {score.exact:6.3f}  {score.folded:6.3f}  {score.cer:6.3f}"
        )
    return "\n".join(lines)


def wide_table(rows: list[dict]) -> str:
    """One line per variant: exact / folded / CER for each category and for all pages."""
    categories = sorted({row["category"] for row in rows})
    by_cat = pool(rows, "variant", "category")
    by_variant = pool(rows, "variant")
    columns = [*categories, "all"]
    head = "variant".ljust(16) + "".join(f"  {c + ' ex/fold/CER':<21}" for c in columns)
    lines = ["variant × category (exact / folded recall / CER)", head.rstrip()]
    for (variant,) in sorted(by_variant, key=lambda k: variant_order(k[0])):
        cells = []
        for category in columns:
            sc = by_variant[(variant,)] if category == "all" else by_cat.get((variant, category))
            cells.append(f"  {sc.exact:.3f} {sc.folded:.3f} {sc.cer:.3f}  " if sc else " " * 23)
        lines.append(variant.ljust(16) + "".join(cells).rstrip())
    return "\n".join(lines)


def report(rows: list[dict], *, per_page: bool = True) -> str:
    """Tables per page, per category × variant, per variant and per category."""
    parts = []
    if per_page:
        parts.append(
            format_table(
                "per page", ("page", "category", "variant"), pool(rows, "id", "category", "variant")
            )
        )
    parts.append(
        format_table(
            "per category and variant", ("category", "variant"), pool(rows, "category", "variant")
        )
    )
    parts.append(format_table("per variant (all categories)", ("variant",), pool(rows, "variant")))
    parts.append(format_table("per category (all variants)", ("category",), pool(rows, "category")))
    parts.append(wide_table(rows))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command line: score a folder of OCR outputs and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ocr_dir", type=Path, help="folder of <id>[.<variant>].txt files")
    parser.add_argument("--truth", type=Path, default=HERE / "truth")
    parser.add_argument("--manifest", type=Path, default=HERE / "manifest.json")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--quiet", action="store_true", help="leave out the per-page table")
    args = parser.parse_args(argv)
    rows = score_dir(args.ocr_dir, args.truth, load_manifest(args.manifest))
    if not rows:
        print(f"no OCR output for known pages in {args.ocr_dir}", file=sys.stderr)
        return 1
    print(report(rows, per_page=not args.quiet))
    if args.json:
        data = [{**row, "score": asdict(row["score"])} for row in rows]
        args.json.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
