"""Accuracy metrics of OCR output against ground truth: CER and word recall.

Both texts are compared as NFC with all whitespace collapsed to single spaces, so
line breaks, hyphen-free wrapping and trailing blanks cost nothing.

Reading order: the generator's truth puts two-column blocks left column first,
while Tesseract blocks and ``pdftotext`` may emit the columns in another order. A
character error rate over the page string would charge that as if the text were
wrong. ``cer_aligned`` therefore first moves each output line next to the truth
line it resembles most (never changing a character), then measures the edit
distance over the whole page. Missing, extra and misread text still count in full;
only the order of whole lines is forgiven. ``cer`` is the strict reading-order rate.

Word recall is what a records clerk feels: the share of the true words (with
multiplicity) that a search would find in the output. Punctuation around a word is
ignored; the folded variant also ignores case and diacritics (đ → d), as search does
for queries typed without marks.
"""

from __future__ import annotations

from collections import Counter

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from pipeline.lang.syllables import strip_punct
from pipeline.lang.textnorm import fold, nfc

MAX_LINE_ERROR = 0.5


def normalise(text: str) -> str:
    """NFC, every run of whitespace (newlines and form feeds too) as one space."""
    return " ".join(nfc(text).split())


def lines(text: str) -> list[str]:
    """Non-blank lines of ``text``, each normalised."""
    out = (normalise(line) for line in nfc(text).replace("\f", "\n").splitlines())
    return [line for line in out if line]


def cer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance / reference length, in reading order; 0.0 for empty reference."""
    ref = normalise(reference)
    if not ref:
        return 0.0 if not normalise(hypothesis) else 1.0
    return Levenshtein.distance(ref, normalise(hypothesis)) / len(ref)


def _word_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``text[start:end]`` to whole words: lines start and end at word boundaries."""
    while start > 0 and text[start - 1] != " ":
        start -= 1
    while end < len(text) and text[end] != " ":
        end += 1
    return start, end


def line_errors(reference: str, hypothesis: str, *, max_share: float = MAX_LINE_ERROR) -> int:
    """Character errors with the order of lines forgiven.

    Truth lines, longest first, each take the stretch of one remaining output line
    (whole words, any position: a line may hold both columns) closest to them in edit
    distance, and their distances are summed. A truth line whose closest stretch is off
    by more than ``max_share`` of its length takes nothing. What is left on both sides,
    each in its own order, is compared by plain edit distance, so garbage read in place
    of a line counts as substitutions, not as a deletion plus an insertion.
    """
    ref_lines = lines(reference)
    segments = lines(hypothesis)
    unmatched: list[int] = []
    errors = 0
    for n in sorted(range(len(ref_lines)), key=lambda i: len(ref_lines[i]), reverse=True):
        ref = ref_lines[n]
        best: tuple[int, int, int, int] | None = None  # distance, segment, start, end
        for index, segment in enumerate(segments):
            if not segment:
                continue
            found = fuzz.partial_ratio_alignment(ref, segment)
            start, end = _word_span(segment, found.dest_start, found.dest_end)
            distance = Levenshtein.distance(ref, segment[start:end].strip())
            if best is None or distance < best[0]:
                best = (distance, index, start, end)
        if best is None or best[0] > max_share * len(ref):
            unmatched.append(n)
            continue
        distance, index, start, end = best
        segment = segments[index]
        errors += distance
        segments[index : index + 1] = [segment[:start].strip(), segment[end:].strip()]
    left_ref = " ".join(ref_lines[n] for n in sorted(unmatched))
    left_hyp = " ".join(s for s in segments if s)
    return errors + Levenshtein.distance(left_ref, left_hyp)


def cer_aligned(reference: str, hypothesis: str) -> float:
    """CER with the order of whole lines forgiven (see the module docstring)."""
    ref = normalise(reference)
    if not ref:
        return 0.0 if not normalise(hypothesis) else 1.0
    return line_errors(reference, hypothesis) / len(ref)


def words(text: str, *, folded: bool = False) -> Counter[str]:
    """Word tokens of ``text`` with their counts; punctuation stripped from both ends."""
    counts: Counter[str] = Counter()
    for raw in normalise(text).split(" "):
        _, token, _ = strip_punct(raw)
        if token:
            counts[fold(token).lower() if folded else token] += 1
    return counts


def word_recall(reference: str, hypothesis: str, *, folded: bool = False) -> float:
    """Share of the reference's words found in the hypothesis, counting repeats; 1.0 if none."""
    ref = words(reference, folded=folded)
    total = sum(ref.values())
    if not total:
        return 1.0
    hyp = words(hypothesis, folded=folded)
    return sum((ref & hyp).values()) / total
