"""Is a token a well-formed Vietnamese syllable? Phonotactics, not a word list.

A Vietnamese syllable is onset + rime + tone, and its spelling is regular enough
to check by rule: the rime comes from a closed inventory, a few onsets change
spelling before front vowels (c/k, g/gh, ng/ngh), ``q`` only ever precedes a
``u`` glide, and rimes closed by a stop (p, t, c, ch) only take the sắc or nặng
tone. OCR errors on stacked diacritics (QUYÉT for QUYẾT, tôt for tốt) break these
rules, which is what makes them detectable without a dictionary. The rules
accept a little more than real usage (rare rimes, loan-word onsets) because
calling a real word invalid would make the corrector change it.
"""

from __future__ import annotations

import functools
import gzip
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.lang.textnorm import fold

SKELETON_FILE = Path(__file__).resolve().parent / "data" / "vi_skeletons.tsv.gz"
TONE_MARKS = {
    "\u0300": "huyen",
    "\u0301": "sac",
    "\u0309": "hoi",
    "\u0303": "nga",
    "\u0323": "nang",
}
# Vowel modifiers and the base letters they may sit on: â ê ô / ă / ơ ư.
_MODIFIERS = {"\u0302": "aeo", "\u0306": "a", "\u031b": "ou"}

VOWELS = frozenset("aăâeêioôơuưy")
MODIFIED_VOWELS = frozenset("ăâêôơư")
# Latin letters Vietnamese spelling never uses natively: f j w z (and their
# accented forms come out of fold() the same way).
FOREIGN_LETTERS = frozenset("fjwz")
VIETNAMESE_LETTERS = frozenset("abcdđeghiklmnopqrstuvxy") | MODIFIED_VOWELS
_BASE_LETTERS = frozenset("abcdđeghiklmnopqrstuvxy")

# Longest first, so "ngh" is tried before "ng" and "n"; "" is the empty onset.
_ONSETS_TEXT = "ngh ng nh ch gh gi kh ph th tr b c d đ g h k l m n p q r s t v x"
ONSETS = (*_ONSETS_TEXT.split(), "")

# Rimes without a glide, by nucleus. "ia"/"ua"/"ưa" are the open spellings of
# the diphthongs iê/uô/ươ; "oong"/"ooc" occur in loan words (xoong, soóc).
_PLAIN_RIMES_TEXT = """
a ac ach ai am an ang anh ao ap at au ay
ăc ăm ăn ăng ăp ăt
âc âm ân âng âp ât âu ây
e ec em en eng eo ep et
ê êch êm ên ênh êp êt êu
i ia ich im in inh ip it iu
iêc iêm iên iêng iêp iêt iêu
y yêm yên yêng yêt yêu
o oc oi om on ong op ot ooc oong
ô ôc ôi ôm ôn ông ôp ôt
ơ ơi ơm ơn ơp ơt
u uc ui um un ung up ut
ua uôc uôi uôm uôn uông uôt
ư ưa ưc ưi ưm ưn ưng ưt ưu
ươc ươi ươm ươn ương ươp ươt ươu
"""

# Rimes with the labial glide /w/, written "o" before a/ă/e and "u" elsewhere.
_GLIDE_RIMES_TEXT = """
oa oac oach oai oam oan oang oanh oao oap oat oay
oăc oăm oăn oăng oăt
oe oen oeo oet
uân uâng uât uây
uê uêch uênh
uy uya uych uyên uyêt uyn uynh uyp uyt uyu
uơ
"""

PLAIN_RIMES = frozenset(_PLAIN_RIMES_TEXT.split())
GLIDE_RIMES = frozenset(_GLIDE_RIMES_TEXT.split())
STOP_CODAS = ("ch", "p", "t", "c")
_FRONT = frozenset("ieêy")


@dataclass(frozen=True)
class Syllable:
    """A parsed syllable: toneless onset and rime, the tone, and where the mark sat."""

    onset: str
    rime: str
    tone: str  # "ngang" when unmarked
    tone_index: int  # index of the marked letter in onset + rime, -1 when unmarked


def _decompose(token: str) -> tuple[str, str, int] | None:
    """Split a lower-case NFC token into (toneless letters, tone, index of the toned letter).

    None when the marks themselves are impossible (two tones, a circumflex on
    ``u``, a breve on ``o``) or a character is not a letter.
    """
    letters: list[str] = []
    tone = "ngang"
    tone_index = -1
    for ch in unicodedata.normalize("NFD", token):
        if unicodedata.combining(ch):
            if not letters:
                return None
            if ch in TONE_MARKS:
                if tone_index >= 0:
                    return None
                tone = TONE_MARKS[ch]
                tone_index = len(letters) - 1
            elif ch in _MODIFIERS:
                base = letters[-1]
                if base not in _MODIFIERS[ch]:
                    return None
                letters[-1] = unicodedata.normalize("NFC", base + ch)
            else:
                return None
        elif ch.isalpha():
            letters.append(ch)
        else:
            return None
    if tone_index >= 0 and letters[tone_index] not in VOWELS:
        return None
    return "".join(letters), tone, tone_index


def _rime_ok(onset: str, rime: str) -> bool:
    """Does ``rime`` exist after ``onset``, given the spelling rules of the onset?"""
    if onset == "q":
        # qu + vowel: the u is the glide, what follows is any rime not starting with u/ư/o.
        glide = rime[:1] == "u" and rime[1:] in PLAIN_RIMES and rime[1] not in "uưo"
        return glide or (rime in GLIDE_RIMES and rime[0] == "u")
    if rime not in PLAIN_RIMES and rime not in GLIDE_RIMES:
        return False
    first = rime[0]
    if onset in ("k", "gh", "ngh"):
        return first in _FRONT and rime not in GLIDE_RIMES
    if onset in ("c", "ng") and first in _FRONT:
        return False
    if onset == "c" and rime in GLIDE_RIMES:
        return False  # written with q: qua, quyết
    if onset == "g" and first in "eê":
        return False
    if onset == "gi" and first in "iy":
        return False
    if rime.startswith("iê") and not onset:
        return False  # written "yê" without an onset: yêu, yên
    if rime.startswith("yê") and onset:
        return False  # written "iê" after an onset: tiên, hiếu
    return not (rime.startswith("y") and onset in ("g", "gi"))


def _tone_positions(word: str, onset: str) -> set[int]:
    """Indices where the tone mark may sit, accepting both old (hòa) and new (hoà) placement."""
    start = len(onset)
    if onset == "q":
        start += 1  # the u of qu belongs to the onset for tone placement
    vowel_idx = [i for i in range(start, len(word)) if word[i] in VOWELS]
    if not vowel_idx:
        return set()
    # The cluster is the run of vowels; what follows it is the coda.
    cluster = [vowel_idx[0]]
    for i in vowel_idx[1:]:
        if i == cluster[-1] + 1:
            cluster.append(i)
    has_coda = cluster[-1] + 1 < len(word)
    modified = [i for i in cluster if word[i] in MODIFIED_VOWELS]
    if modified:
        return {modified[-1]}
    if len(cluster) == 1:
        return {cluster[0]}
    if has_coda:
        return {cluster[-1]}
    if len(cluster) == 3:
        return {cluster[1]}
    if word[cluster[0] : cluster[1] + 1] in ("oa", "oe", "uy"):
        return {cluster[0], cluster[1]}
    return {cluster[0]}


@functools.lru_cache(maxsize=65536)
def parse_syllable(token: str) -> Syllable | None:
    """Parse one syllable (any case, NFC or not); None when it is not well-formed."""
    dec = _decompose(token.lower())
    if dec is None:
        return None
    word, tone, tone_index = dec
    if not word or any(ch not in VIETNAMESE_LETTERS for ch in word):
        return None
    for onset in ONSETS:
        if not word.startswith(onset):
            continue
        rime = word[len(onset) :]
        if not rime or not _rime_ok(onset, rime):
            continue
        if rime.endswith(STOP_CODAS) and tone not in ("sac", "nang"):
            continue
        if tone_index >= 0 and tone_index not in _tone_positions(word, onset):
            continue
        return Syllable(onset=onset, rime=rime, tone=tone, tone_index=tone_index)
    return None


@functools.lru_cache(maxsize=65536)
def canonical(token: str) -> str:
    """One spelling per syllable: the tone mark moved to its traditional place (hoà → hòa).

    Both placements are correct Vietnamese, so they must count as the same
    syllable in the language model and never be "corrected" into each other.
    Tokens that are not valid syllables come back unchanged.
    """
    syl = parse_syllable(token)
    if syl is None or syl.tone_index < 0:
        return token
    dec = _decompose(token.lower())
    if dec is None:
        return token
    word = dec[0]
    pos = min(_tone_positions(word, syl.onset))
    if pos == syl.tone_index:
        return token
    mark = next(m for m, name in TONE_MARKS.items() if name == syl.tone)
    placed = unicodedata.normalize("NFC", word[: pos + 1] + mark + word[pos + 1 :])
    return _restore_case(token, placed)


def _restore_case(pattern: str, word: str) -> str:
    if pattern.isupper() and len(pattern) > 1:
        return word.upper()
    if pattern[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def is_valid_syllable(token: str) -> bool:
    """True when ``token`` (pure letters, any case) is a well-formed Vietnamese syllable."""
    return parse_syllable(unicodedata.normalize("NFC", token)) is not None


def is_vietnamese_letters(token: str) -> bool:
    """True when every character is a letter Vietnamese uses (no f/j/w/z, digits, signs)."""
    if not token:
        return False
    for ch in unicodedata.normalize("NFD", token.lower()):
        if unicodedata.combining(ch):
            if ch not in TONE_MARKS and ch not in _MODIFIERS:
                return False
        elif ch not in _BASE_LETTERS:
            return False
    return True


def is_abbreviation(token: str) -> bool:
    """Single letters, two capitals (SV, TP, EP), and capitals no marking makes a syllable (UBND).

    QUYÉT is not one: its skeleton "quyet" is a syllable once marked (QUYẾT).
    """
    if len(token) <= 1:
        return True
    if not token.isupper():
        return False
    return len(token) == 2 or fold(token).lower() not in skeleton_index()


@functools.cache
def all_syllables() -> frozenset[str]:
    """Every well-formed syllable the rules allow (lower case, NFC, tone marks placed both ways)."""
    out: set[str] = set()
    rimes = PLAIN_RIMES | GLIDE_RIMES | {"u" + r for r in PLAIN_RIMES}
    for onset in ONSETS:
        for rime in rimes:
            base = onset + rime
            for mark in ("", *TONE_MARKS):
                positions = _tone_positions(base, onset) if mark else {-1}
                for pos in positions:
                    if pos < 0:
                        word = base
                    else:
                        word = unicodedata.normalize(
                            "NFC", base[: pos + 1] + mark + base[pos + 1 :]
                        )
                    if parse_syllable(word) is not None:
                        out.add(word)
    return frozenset(out)


def build_skeleton_index() -> dict[str, tuple[str, ...]]:
    """Folded spelling → the valid syllables (canonical placement) folding to it, from the rules.

    ``quyet`` → (quyết, quyệt): the candidates for a mark-only OCR error.
    """
    index: dict[str, list[str]] = {}
    for syl in sorted({canonical(s) for s in all_syllables()}):
        index.setdefault(fold(syl), []).append(syl)
    return {key: tuple(vals) for key, vals in index.items()}


def write_skeleton_index(path: Path = SKELETON_FILE) -> None:
    """Store the rules' index (scripts/build_language_data.py; a test keeps it in step)."""
    rows = (f"{key}\t{' '.join(vals)}" for key, vals in sorted(build_skeleton_index().items()))
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(("\n".join(rows) + "\n").encode("utf-8"))  # mtime 0: same rules, same bytes


@functools.cache
def skeleton_index() -> dict[str, tuple[str, ...]]:
    """:func:`build_skeleton_index`, read from the package's data file.

    Deriving it from the rules takes about 0.4 s, which every OCR worker paid at
    start, on every ``sohoa process`` call; reading the stored copy takes a few ms.
    """
    try:
        with gzip.open(SKELETON_FILE, "rt", encoding="utf-8") as fh:
            rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    except FileNotFoundError:
        return build_skeleton_index()
    return {key: tuple(vals.split(" ")) for key, vals in rows}


def invalid_share(words: Sequence[str]) -> float:
    """Share of Vietnamese-letter tokens that are not valid syllables; 0.0 when there are none.

    Surrounding punctuation is stripped first. Tokens with digits or inner
    punctuation (263/KH-UBND), foreign letters, and abbreviations are not counted:
    they are not meant to be syllables, so they say nothing about OCR quality.
    """
    counted = bad = 0
    for raw in words:
        token = strip_punct(raw)[1]
        if not is_vietnamese_letters(token) or is_abbreviation(token):
            continue
        counted += 1
        if not is_valid_syllable(token):
            bad += 1
    return bad / counted if counted else 0.0


def strip_punct(raw: str) -> tuple[str, str, str]:
    """Split ``"“QUYÉT:"`` into ``("“", "QUYÉT", ":")``: leading signs, the core, trailing signs."""
    start = 0
    end = len(raw)
    while start < end and not raw[start].isalnum():
        start += 1
    while end > start and not raw[end - 1].isalnum():
        end -= 1
    return raw[:start], raw[start:end], raw[end:]
