"""Syllable-aware correction of Tesseract's Vietnamese output.

Tesseract's typical errors on Vietnamese scans are on stacked diacritics: it
keeps the tone and loses the circumflex (QUYÉT for QUYẾT), or keeps the
circumflex and loses the tone (tôt for tốt, thành phô for thành phố). The first
kind is usually not a valid syllable; the second often is (phô, sông, đông).

So each line is decoded as a noisy channel: every token may stand for any
syllable with the same letters and different marks (``syllables.skeleton_index``),
an OCR error model prices each mark change, and a syllable bigram model built
from public Vietnamese text (``scripts/build_language_data.py``) scores the
sequence; Viterbi picks the best reading per run of words. Changing a token that
is already a valid syllable costs much more and needs real bigram evidence,
because correcting a correct word is worse than missing an error.

The Vietnamese models cannot print ỵ at all (their character sets lack it), so a
``y`` where ``ỵ`` belongs costs nothing in the channel model; it is put back only
where a neighbouring word asks for it (huyện lỵ, kiết lỵ, kiêng kỵ), never on ``ly``
(a cup) or ``ty`` (công ty) elsewhere.

A run of words does not stop at a line break inside one of Tesseract's paragraphs:
the last word of the line before and the first of the line after are context for
the line's edges (``xây`` | ``đựng`` reads ``xây dựng``), never changed themselves.

Never touched: tokens with digits or inner signs (263/KH-UBND, emails, dates),
abbreviations, single letters, foreign letters (f j w z), lines that are mostly
not Vietnamese, and valid Title-case words inside a line (names, organisations)
unless the model verifies the name: a marking seen at least ``MIN_NAME_SUPPORT``
times after the syllable before it, where the observed one never is (Đà Năng →
Đà Nẵng; Phạm Văn Năng stays).
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.lang import ngram
from pipeline.lang.ngram import BigramCounts
from pipeline.lang.syllables import (
    TONE_MARKS,
    canonical,
    is_abbreviation,
    is_valid_syllable,
    is_vietnamese_letters,
    skeleton_index,
    strip_punct,
)
from pipeline.lang.textnorm import fold, nfc
from pipeline.ocr.words import Word

DATA_FILE = Path(__file__).resolve().parent / "data" / "vi_syllable_lm.bin"

# Channel costs (natural-log units) of reading the candidate's mark as the observed one.
# Dropping a mark is what Tesseract does most; inventing one is rarer.
COST_DROP_TONE = 2.0
COST_ADD_TONE = 3.5
COST_CHANGE_TONE = 3.0
COST_DROP_MODIFIER = 2.0
COST_ADD_MODIFIER = 3.5
COST_CHANGE_MODIFIER = 3.0
COST_D_STROKE = 3.0
COST_LETTER_EDIT = 5.0
# Extra price for replacing a token that is already a valid syllable, and the
# bigram count that must back such a replacement. Tuned on held-out clean text
# (see ``scripts/build_language_data.py --evaluate``).
COST_REPLACE_VALID = 7.0
MIN_BIGRAM_SUPPORT = 10
# A name syllable (Title case inside a line) changes only to a marking seen this often
# after the syllable before it, where the observed one never is.
MIN_NAME_SUPPORT = 50
MAX_CANDIDATES = 6
# Weight of the unigram distribution in the smoothed bigram estimate. The counts are
# weighted (a line of law counts three times) over 18 M words, so a pair needs more
# counts than it did over the 1 M words of issue 14 (2.0, 3) to outweigh the prior:
# chosen on the development pages' captured words (bench/realset/correct_offline.py).
BIGRAM_PRIOR = 20.0

_MODIFIER_MARKS = frozenset("\u0302\u0306\u031b")
_DOT_BELOW = "\u0323"
# Letter confusions Tesseract makes on Latin shapes; applied to the folded spelling.
_LETTER_CONFUSIONS = (("rn", "m"), ("m", "rn"), ("cl", "d"), ("li", "h"), ("ii", "u"), ("l", "i"))
_SENTENCE_END = frozenset(".:;!?…")


@dataclass(frozen=True)
class Correction:
    """One changed token: its index in the input sequence, and the text before and after."""

    index: int
    before: str
    after: str


@dataclass(frozen=True, eq=False)
class LanguageModel:
    """Syllable unigram and bigram counts (lower case, NFC), as mapped by ``ngram.read``."""

    counts: BigramCounts

    @property
    def total(self) -> int:
        return self.counts.total

    def unigram(self, syl: str) -> int:
        return self.counts.unigram(syl)

    def logp_unigram(self, syl: str) -> float:
        return _logp_unigram(self, syl)

    def logp_bigram(self, prev: str, syl: str) -> float:
        """log P(syl | prev), interpolated with the unigram so unseen pairs are possible."""
        return _logp_bigram(self, prev, syl)

    def bigram_count(self, prev: str, syl: str) -> int:
        return self.counts.pair(prev, syl)


@functools.lru_cache(maxsize=65536)
def _logp_unigram(lm: LanguageModel, syl: str) -> float:
    vocab = len(skeleton_index()) * 8  # rough size of the possible syllable inventory
    return math.log((lm.unigram(syl) + 0.1) / (lm.total + 0.1 * vocab))


@functools.lru_cache(maxsize=262144)
def _logp_bigram(lm: LanguageModel, prev: str, syl: str) -> float:
    # Viterbi asks the same pairs again and again (every candidate against every
    # candidate before it, on every page): cached, as the unigram is.
    count = lm.bigram_count(prev, syl)
    prev_count = lm.unigram(prev)
    prior = math.exp(lm.logp_unigram(syl))
    return math.log((count + BIGRAM_PRIOR * prior) / (prev_count + BIGRAM_PRIOR))


def read_language_model(path: Path = DATA_FILE) -> LanguageModel:
    """Map the committed counts (``pipeline.lang.ngram``): a few milliseconds."""
    return LanguageModel(ngram.read(path))


@functools.cache
def default_model() -> LanguageModel:
    """The committed model, mapped once per process."""
    return read_language_model()


def lm_token(raw: str) -> str | None:
    """The lower-case core of a token if it is a word (letters only), else None."""
    core = strip_punct(raw)[1]
    return canonical(core.lower()) if core.isalpha() else None


def runs(raws: Sequence[str]) -> Iterator[list[int]]:
    """Indices of consecutive word tokens not separated by punctuation or a non-word token.

    The language model is trained on exactly these runs, so context never
    crosses a comma, a number or a code.
    """
    current: list[int] = []
    for i, raw in enumerate(raws):
        lead, core, trail = strip_punct(raw)
        if not core.isalpha():
            if current:
                yield current
            current = []
            continue
        if lead and current:
            yield current
            current = []
        current.append(i)
        if trail:
            yield current
            current = []
    if current:
        yield current


def _marks(syl: str) -> list[tuple[str, str, str]]:
    """Per letter: (base letter, tone mark, modifier marks), đ kept as its own base."""
    out: list[tuple[str, str, str]] = []
    for ch in unicodedata.normalize("NFD", syl):
        if unicodedata.combining(ch):
            base, tone, mods = out[-1]
            if ch in TONE_MARKS:
                out[-1] = (base, ch, mods)
            else:
                out[-1] = (base, tone, mods + ch)
        else:
            out.append((ch, "", ""))
    return out


def lost_y_dot(observed: str, intended: str) -> bool:
    """``intended`` has ỵ where ``observed`` has a bare y, all else equal: what OCR must print."""
    want = unicodedata.normalize("NFD", intended)
    at = want.find("y" + _DOT_BELOW)
    if at < 0:
        return False
    return unicodedata.normalize("NFD", observed) == want[: at + 1] + want[at + 2 :]


@functools.lru_cache(maxsize=65536)
def channel_cost(observed: str, intended: str) -> float:
    """Cost of Tesseract printing ``observed`` for ``intended`` (same folded letters)."""
    if lost_y_dot(observed, intended):
        return 0.0
    obs, want = _marks(observed), _marks(intended)
    if len(obs) != len(want):
        return COST_LETTER_EDIT
    obs_tone = "".join(t for _, t, _ in obs)
    want_tone = "".join(t for _, t, _ in want)
    cost = 0.0
    if obs_tone != want_tone:
        if not obs_tone:
            cost += COST_DROP_TONE
        elif not want_tone:
            cost += COST_ADD_TONE
        else:
            cost += COST_CHANGE_TONE
    for (ob, _, om), (wb, _, wm) in zip(obs, want, strict=True):
        if ob != wb:
            cost += COST_D_STROKE if {ob, wb} == {"d", "đ"} else COST_LETTER_EDIT
        elif om != wm:
            if not om:
                cost += COST_DROP_MODIFIER
            elif not wm:
                cost += COST_ADD_MODIFIER
            else:
                cost += COST_CHANGE_MODIFIER
    return cost


def _letter_variants(skeleton: str) -> set[str]:
    out: set[str] = set()
    for wrong, right in _LETTER_CONFUSIONS:
        start = skeleton.find(wrong)
        while start >= 0:
            out.add(skeleton[:start] + right + skeleton[start + len(wrong) :])
            start = skeleton.find(wrong, start + 1)
    return out


@functools.lru_cache(maxsize=65536)
def candidates(token: str, allow_letter_edits: bool = True) -> tuple[tuple[str, float], ...]:
    """Valid, attested readings of a lower-case token with their channel costs, best first.

    Mark changes first (same folded letters); Latin letter confusions (rn/m,
    cl/d, li/h) only when no mark change gives a valid syllable.
    """
    lm = default_model()
    index = skeleton_index()
    skeleton = fold(token)
    pool = [(syl, channel_cost(token, syl)) for syl in index.get(skeleton, ())]
    if allow_letter_edits and not any(syl != token for syl, _ in pool):
        for variant in _letter_variants(skeleton):
            pool.extend(
                (syl, COST_LETTER_EDIT + _mark_distance(token, syl))
                for syl in index.get(variant, ())
            )
    valid = is_valid_syllable(token)
    scored = []
    for syl, cost in pool:
        if syl == token:
            continue
        if lm.unigram(syl) == 0:
            continue  # never seen in Vietnamese text: not worth the risk
        if valid and not lost_y_dot(token, syl):
            cost += COST_REPLACE_VALID
        scored.append((syl, cost))
    scored.sort(key=lambda sc: sc[1] - lm.logp_unigram(sc[0]))
    return tuple(scored[:MAX_CANDIDATES])


def _mark_distance(token: str, syl: str) -> float:
    """Rough mark difference between spellings of different letters (tone, modifier counts)."""

    def count(s: str) -> tuple[int, int]:
        marks = [c for c in unicodedata.normalize("NFD", s) if unicodedata.combining(c)]
        return sum(m in TONE_MARKS for m in marks), sum(m in _MODIFIER_MARKS for m in marks)

    a, b = count(token), count(syl)
    return abs(a[0] - b[0]) * COST_DROP_TONE + abs(a[1] - b[1]) * COST_DROP_MODIFIER


def apply_case(pattern: str, syl: str) -> str:
    """Give ``syl`` the case pattern of ``pattern``: UPPER, Title or lower."""
    if len(pattern) > 1 and pattern.isupper():
        return syl.upper()
    if pattern[:1].isupper():
        return syl[:1].upper() + syl[1:]
    return syl


def _line_is_vietnamese(cores: Sequence[str]) -> bool:
    """False for lines that look English/French: most letter tokens are not syllables."""
    letters = [c for c in cores if c.isalpha() and not is_abbreviation(c)]
    if len(letters) < 2:
        return True
    valid = sum(1 for c in letters if is_vietnamese_letters(c) and is_valid_syllable(c))
    return valid * 2 >= len(letters)


def _options(
    raws: Sequence[str], i: int, starts_sentence: bool, prev: str | None = None
) -> list[tuple[str, float]]:
    """The readings Viterbi may choose for token ``i``: the observation first, at no cost.

    ``prev`` is the lower-case word before it in the same run, if any.
    """
    core = strip_punct(raws[i])[1]
    low = canonical(core.lower())
    keep = [(low, 0.0)]
    if len(core) == 2 and core.isupper() and is_vietnamese_letters(core):
        return keep + _y_dot_options(low)  # LY, TY: abbreviations, or LỴ with its dot lost
    if len(core) < 2 or not is_vietnamese_letters(core) or is_abbreviation(core):
        return keep
    valid = is_valid_syllable(core)
    title_case = core[:1].isupper() and not core.isupper()
    if valid and title_case and not starts_sentence:
        # A capitalised word inside a line is most likely a name: changed only to the
        # spelling the model knows after the same first syllable (Đà Năng → Đà Nẵng).
        return keep + _verified_name_options(low, prev)
    caps = core.isupper()
    return keep + list(candidates(low, allow_letter_edits=not caps))


def _verified_name_options(low: str, prev: str | None) -> list[tuple[str, float]]:
    """Other markings of a name syllable that the model has seen after ``prev`` many times
    while it has never seen ``low`` there; nothing for names it cannot verify."""
    if prev is None:
        return []
    lm = default_model()
    if lm.bigram_count(prev, low) > 0:
        return []
    return [
        (syl, cost)
        for syl, cost in candidates(low, allow_letter_edits=False)
        if fold(syl) == fold(low) and lm.bigram_count(prev, syl) >= MIN_NAME_SUPPORT
    ]


def _prev_low(raws: Sequence[str], i: int) -> str:
    return canonical(strip_punct(raws[i - 1])[1].lower())


def _y_dot_options(token: str) -> list[tuple[str, float]]:
    """The attested readings of ``token`` with a ỵ the OCR could not print (ly → lỵ)."""
    lm = default_model()
    return [
        (syl, 0.0)
        for syl in skeleton_index().get(fold(token), ())
        if lost_y_dot(token, syl) and lm.unigram(syl) > 0
    ]


def _decode(lm: LanguageModel, options: list[list[tuple[str, float]]]) -> list[str]:
    """Viterbi over one run: emission is minus the channel cost, transition the bigram."""
    scores = [lm.logp_unigram(s) - c for s, c in options[0]]
    back: list[list[int]] = []
    for opts in options[1:]:
        prev_opts = options[len(back)]
        new_scores: list[float] = []
        pointers: list[int] = []
        for syl, cost in opts:
            best, arg = -math.inf, 0
            for j, (prev, _) in enumerate(prev_opts):
                s = scores[j] + lm.logp_bigram(prev, syl)
                if s > best:
                    best, arg = s, j
            new_scores.append(best - cost)
            pointers.append(arg)
        scores = new_scores
        back.append(pointers)
    j = max(range(len(scores)), key=scores.__getitem__)
    path = [j]
    for pointers in reversed(back):
        j = pointers[j]
        path.append(j)
    path.reverse()
    return [options[k][p][0] for k, p in enumerate(path)]


def _context(raw: str | None, *, before: bool) -> str | None:
    """The word of a neighbouring line that continues a run across the line break."""
    if raw is None:
        return None
    lead, core, trail = strip_punct(raw)
    if not core.isalpha() or (trail if before else lead):
        return None
    return canonical(core.lower())


def _attested(lm: LanguageModel, options: list[tuple[str, float]]) -> bool:
    """Whether the observed reading (the first option) is a syllable the model has seen."""
    return lm.unigram(options[0][0]) > 0


def correct_tokens(
    raws: Sequence[str],
    lm: LanguageModel | None = None,
    *,
    before: str | None = None,
    after: str | None = None,
) -> list[str]:
    """Correct one line of raw tokens (punctuation attached); returns the new tokens.

    ``before`` and ``after`` are the last token of the line before and the first of
    the line after in the same paragraph: context for the line's first and last
    words (a word pair split by the line break), never changed themselves.
    """
    lm = lm or default_model()
    out = list(raws)
    cores = [strip_punct(r)[1] for r in raws]
    if not _line_is_vietnamese(cores):
        return out
    left, right = _context(before, before=True), _context(after, before=False)
    for run in runs(raws):
        first = run[0]
        starts_sentence = first == 0 or strip_punct(raws[first - 1])[2][-1:] in _SENTENCE_END
        options = [
            _options(
                raws, i, starts_sentence and i == first, _prev_low(raws, i) if i > first else None
            )
            for i in run
        ]
        if all(len(o) == 1 for o in options):
            continue
        # Only between attested readings: after a syllable the model never saw, any next
        # word is as likely as it is anywhere, which would keep the misreading.
        head = (
            [[(left, 0.0)]]
            if left and first == 0 and not strip_punct(raws[0])[0] and _attested(lm, options[0])
            else []
        )
        tail = (
            [[(right, 0.0)]]
            if right
            and run[-1] == len(raws) - 1
            and not strip_punct(raws[-1])[2]
            and _attested(lm, options[-1])
            else []
        )
        decoded = _decode(lm, head + options + tail)
        chosen = decoded[len(head) : len(decoded) - len(tail)]
        for k, i in enumerate(run):
            low = options[k][0][0]
            new = chosen[k]
            if new == low:
                continue
            if is_valid_syllable(low):
                at = k + len(head)
                prev = decoded[at - 1] if at else None
                nxt = decoded[at + 1] if at + 1 < len(decoded) else None
                support = max(
                    lm.bigram_count(prev, new) if prev else 0,
                    lm.bigram_count(new, nxt) if nxt else 0,
                )
                if support < MIN_BIGRAM_SUPPORT:
                    continue
            lead, core, trail = strip_punct(raws[i])
            out[i] = nfc(lead + apply_case(core, new) + trail)
    return out


def correct_words(words: Sequence[Word]) -> tuple[tuple[Word, ...], list[Correction]]:
    """Correct Tesseract's words line by line (a paragraph's neighbouring lines as context);
    same boxes, new text, and the list of changes."""
    result = list(words)
    corrections: list[Correction] = []
    lines: list[list[int]] = []
    key: tuple[int, int, int] | None = None
    for i, w in enumerate(words):
        wkey = (w.block, w.par, w.line)
        if key is None or wkey != key:
            lines.append([])
        lines[-1].append(i)
        key = wkey

    def paragraph(i: int) -> tuple[int, int]:
        return words[i].block, words[i].par

    for n, line in enumerate(lines):
        tokens = [nfc(words[i].text) for i in line]
        # The neighbouring lines' words as the OCR read them: each line is decided once.
        before = after = None
        if n and paragraph(lines[n - 1][-1]) == paragraph(line[0]):
            before = nfc(words[lines[n - 1][-1]].text)
        if n + 1 < len(lines) and paragraph(lines[n + 1][0]) == paragraph(line[0]):
            after = nfc(words[lines[n + 1][0]].text)
        fixed = correct_tokens(tokens, before=before, after=after)
        for i, old, text in zip(line, tokens, fixed, strict=True):
            if text != old:
                corrections.append(Correction(index=i, before=old, after=text))
            if text != words[i].text:
                result[i] = replace(words[i], text=text)
    return tuple(result), corrections
