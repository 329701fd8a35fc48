#!/usr/bin/env python3
"""Regenerate pipeline/lang/data/vi_syllable_lm.bin from public Vietnamese text.

(It also stores the syllable rules' skeleton index as data/vi_skeletons.tsv.gz.)

Sources (see /work/shared/data/vi-corpus/SOURCES.md): the 208 public-domain laws
and codes of ``legal-vlc-2023`` (the register of administrative documents, each
line counted ``LEGAL_WEIGHT`` times), Vietnamese Wikipedia (``viwiki``, 7,860
articles, and the 28 articles of ``nomvn-open-texts``; CC BY-SA, hence
pipeline/lang/data/NOTICE), the UDHR, Tatoeba sentences and Wikisource prefaces for
running text; Tesseract's Vietnamese word lists and Debian's hunspell-vi dictionary
(``/usr/share/hunspell/vi_VN.dic``, package hunspell-vi) only attest that a
syllable exists (count 1), since they carry no context.

Every tenth line (by CRC-32 of the NFC line) is held out, so that
``--evaluate`` measures false corrections on clean text the model has not seen.

    python scripts/build_language_data.py              # write the data file
    python scripts/build_language_data.py --evaluate   # false-correction rate on held-out lines
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.lang import ngram  # noqa: E402
from pipeline.lang.correct import DATA_FILE, correct_tokens, lm_token, runs  # noqa: E402
from pipeline.lang.syllables import (  # noqa: E402
    TONE_MARKS,
    is_valid_syllable,
    strip_punct,
    write_skeleton_index,
)
from pipeline.lang.textnorm import fold, nfc  # noqa: E402


def _corpus() -> Path:
    """``shared/data/vi-corpus`` beside the checkout or any folder above it (worktrees nest)."""
    override = os.environ.get("SOHOA_SHARED_DATA")
    if override:
        return Path(override) / "vi-corpus"
    for folder in ROOT.parents:
        if (folder / "shared" / "data" / "vi-corpus").is_dir():
            return folder / "shared" / "data" / "vi-corpus"
    return ROOT.parent / "shared" / "data" / "vi-corpus"


CORPUS = _corpus()
HUNSPELL = Path("/usr/share/hunspell/vi_VN.dic")
MIN_BIGRAM = 3  # weighted: one line of law, or three of Wikipedia
MIN_OTHER_UNIGRAM = 6  # for tokens that are not syllables (abbreviations, names)
TYPO_RATIO = 200  # a pair this many times rarer than another marking of its letters: a typo
HOLDOUT_MODULUS = 10
# Collocations spelled with ỵ. No Tesseract model for Vietnamese can print ỵ/Ỵ (their
# character sets lack it: they read "huyện lỵ" as "huyện ly"), so the corrector restores
# it from the neighbouring word alone, and needs these pairs to know where. The corpus
# attests only a few (tỉnh lỵ, kiêng kỵ, kỵ binh, tỵ nạn, quỵ lụy); these are the common
# ones of administrative and everyday text, counted as if each was seen Y_DOT_COUNT times.
Y_DOT_PHRASES = (
    "huyện lỵ",
    "tỉnh lỵ",
    "quận lỵ",
    "thị lỵ",
    "châu lỵ",
    "phủ lỵ",
    "lỵ sở",
    "kiết lỵ",
    "bệnh lỵ",
    "khuẩn lỵ",
    "lỵ amip",
    "kiêng kỵ",
    "cấm kỵ",
    "húy kỵ",
    "đố kỵ",
    "giỗ kỵ",
    "kỵ binh",
    "kỵ sĩ",
    "kỵ nhau",
    "ất tỵ",
    "đinh tỵ",
    "kỷ tỵ",
    "tân tỵ",
    "quý tỵ",
    "tuổi tỵ",
    "tỵ nạn",
    "gục quỵ",
    "quỵ ngã",
    "quỵ xuống",
    "quỵ lụy",
)
Y_DOT_COUNT = 20


def is_holdout(line: str) -> bool:
    """Deterministic 10 % of lines kept out of the counts for evaluation."""
    return zlib.crc32(line.encode("utf-8")) % HOLDOUT_MODULUS == 0


LEGAL_WEIGHT = 3  # a line of law counts as three lines of encyclopaedia


def running_text(corpus: Path = CORPUS) -> Iterator[tuple[str, str]]:
    """(source name, NFC line) for every line of running Vietnamese text."""
    for path in sorted((corpus / "legal-vlc-2023").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            yield "legal", nfc(line)
    for path in sorted((corpus / "viwiki").glob("viwiki-*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("### "):  # an article's title line
                yield "wiki", nfc(line)
    nom = corpus / "nomvn-open-texts"
    with (nom / "wiki_vi" / "articles.jsonl").open(encoding="utf-8") as fh:
        for row in fh:
            for line in json.loads(row)["extract"].splitlines():
                yield "wiki", nfc(line)
    for path in [nom / "udhr_vi" / "udhr_vi.txt", *sorted((nom / "wikisource_vi").glob("*.txt"))]:
        for line in path.read_text(encoding="utf-8").splitlines():
            yield path.stem, nfc(line)
    tatoeba = nom / "tatoeba_vi" / "vie_sentences_sample_3k.tsv"
    for row in tatoeba.read_text(encoding="utf-8").splitlines():
        parts = row.split("\t")
        if len(parts) >= 3:
            yield "tatoeba", nfc(parts[2])


def attested_words(corpus: Path = CORPUS, hunspell: Path = HUNSPELL) -> set[str]:
    """Lower-case syllables from word lists: evidence a syllable exists, not how often."""
    lists = sorted((corpus / "tesseract-langdata-vie").glob("*wordlist"))
    if hunspell.exists():
        lists.append(hunspell)
    else:
        print(f"note: {hunspell} missing (apt-get install hunspell-vi)", file=sys.stderr)
    out: set[str] = set()
    for path in lists:
        for line in path.read_text(encoding="utf-8").splitlines():
            word = nfc(line.split("/")[0].strip()).lower()
            if is_valid_syllable(word):
                out.add(word)
    return out


def count(corpus: Path = CORPUS) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for source, line in running_text(corpus):
        if not line.strip() or is_holdout(line):
            continue
        weight = LEGAL_WEIGHT if source == "legal" else 1
        raws = line.split()
        for run in runs(raws):
            toks = [lm_token(raws[i]) for i in run]
            words = [t for t in toks if t]
            for word in words:
                unigrams[word] += weight
            for pair in itertools.pairwise(words):
                bigrams[pair] += weight
    for phrase in Y_DOT_PHRASES:
        a, b = (nfc(w) for w in phrase.split())
        bigrams[(a, b)] += Y_DOT_COUNT
        unigrams.update({a: Y_DOT_COUNT, b: Y_DOT_COUNT})
    return unigrams, bigrams


def drop_typo_pairs(pairs: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Without the pairs that another marking of the same letters outnumbers ``TYPO_RATIO``
    to one: "thay đối" (4) beside "thay đổi" (9335), "đảo tạo" beside "đào tạo" are the
    corpus's own typos, and kept they would vouch for the very misreadings OCR makes."""
    best: dict[tuple[str, str], int] = {}
    for (a, b), c in pairs.items():
        key = (fold(a), fold(b))
        best[key] = max(best.get(key, 0), c)
    return {(a, b): c for (a, b), c in pairs.items() if c * TYPO_RATIO >= best[(fold(a), fold(b))]}


def build(out: Path = DATA_FILE) -> None:
    unigrams, bigrams = count()
    for word in attested_words():
        unigrams[word] = max(unigrams[word], 1)
    keep = {w: c for w, c in unigrams.items() if is_valid_syllable(w) or c >= MIN_OTHER_UNIGRAM}
    pairs = {
        (a, b): c for (a, b), c in bigrams.items() if c >= MIN_BIGRAM and a in keep and b in keep
    }
    pairs = drop_typo_pairs(pairs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tokens, stored = ngram.write(out, keep, pairs)
    print(f"{out}: {tokens} unigrams, {stored} bigrams, {out.stat().st_size} bytes")


def tesseract_error(token: str, rng: random.Random) -> str | None:
    """A Tesseract-like mark error on ``token``, or None when it has no stacked marks to lose.

    The errors seen on real scans: the tone falls off a circumflex/horn/breve
    vowel (tốt → tôt), or the modifier falls off and the tone stays (QUYẾT → QUYÉT),
    or grave and hook swap on a circumflex vowel (bổ → bồ).
    """
    nfd = unicodedata.normalize("NFD", token)
    for i, ch in enumerate(nfd):
        if ch in "\u0302\u0306\u031b" and i + 1 < len(nfd) and nfd[i + 1] in TONE_MARKS:
            tone = nfd[i + 1]
            kind = rng.random()
            if kind < 0.45:
                out = nfd[: i + 1] + nfd[i + 2 :]
            elif kind < 0.8:
                out = nfd[:i] + nfd[i + 1 :]
            elif tone in "\u0300\u0309":
                swapped = "\u0309" if tone == "\u0300" else "\u0300"
                out = nfd[: i + 1] + swapped + nfd[i + 2 :]
            else:
                return None
            return unicodedata.normalize("NFC", out)
    return None


def evaluate(limit: int, error_rate: float = 0.1) -> None:
    """Correct held-out lines, clean and with injected Tesseract-like errors.

    On clean lines every change is a false correction. On damaged lines, count
    injected errors fixed exactly and untouched tokens broken.
    """
    rng = random.Random(61)
    changed = tokens = injected = fixed = broken = 0
    examples: Counter[str] = Counter()
    elapsed = 0.0
    for _, line in running_text():
        if not line.strip() or not is_holdout(line):
            continue
        raws = line.split()
        tokens += len(raws)
        started = time.perf_counter()
        out = correct_tokens(raws)
        elapsed += time.perf_counter() - started
        for before, after in zip(raws, out, strict=True):
            if before != after:
                changed += 1
                examples[f"{before} → {after}"] += 1
        damaged = list(raws)
        hurt = set()
        for i, raw in enumerate(raws):
            lead, core, trail = strip_punct(raw)
            bad = tesseract_error(core, rng) if rng.random() < error_rate * 3 else None
            if bad and bad != core:
                damaged[i] = lead + bad + trail
                hurt.add(i)
        injected += len(hurt)
        for i, after in enumerate(correct_tokens(damaged)):
            if i in hurt:
                fixed += after == raws[i]
            elif after != raws[i]:
                broken += 1
        if tokens >= limit:
            break
    rate = changed / tokens if tokens else 0.0
    print(
        f"held-out tokens {tokens}: false corrections {changed} ({rate:.4%}), "
        f"{elapsed / max(tokens, 1) * 500 * 1000:.1f} ms per 500 tokens"
    )
    print(
        f"injected errors {injected}: fixed {fixed} ({fixed / max(injected, 1):.1%}), "
        f"correct tokens broken {broken} ({broken / max(tokens - injected, 1):.4%})"
    )
    for text, n in examples.most_common(30):
        print(f"  {n:4d}  {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluate", action="store_true", help="measure false corrections")
    parser.add_argument("--limit", type=int, default=10**9, help="held-out tokens to evaluate")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a constant of pipeline.lang.correct while evaluating",
    )
    args = parser.parse_args()
    if args.evaluate:
        from pipeline.lang import correct

        for item in args.set:
            name, value = item.split("=")
            setattr(correct, name, type(getattr(correct, name))(value))
        evaluate(args.limit)
    else:
        build()
        write_skeleton_index()


if __name__ == "__main__":
    main()
