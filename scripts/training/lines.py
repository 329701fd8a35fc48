"""Text lines to render for training: administrative Vietnamese, legal text weighted up.

The lines come from the public-domain laws (``vi-corpus/legal-vlc-2023``: the register
of the decisions, plans and letters offices receive) and from Vietnamese Wikipedia
(``vi-corpus/viwiki``: names, places, numbers), three legal lines for one encyclopaedic,
plus header lines as administrative documents print them (organ, national motto, number
and notation, place and date), built from the same corpus's vocabulary. Every line is
NFC and uses only characters the base model can output.

A line is held out (never trained on) when the CRC-32 of its text is 0 mod 10, the same
rule as ``scripts/build_language_data.py``; the evaluation lines are drawn only from those.
"""

from __future__ import annotations

import random
import re
import unicodedata
import zlib
from collections.abc import Iterator
from pathlib import Path

LEGAL_SHARE = 0.75  # of corpus lines; the rest from Wikipedia
HEADER_SHARE = 0.08  # synthetic header lines (number, date, organ, motto)
UPPER_SHARE = 0.08  # corpus lines set in capitals (titles, organ names)
MIN_WORDS, MAX_WORDS = 3, 13
HOLDOUT_MODULUS = 10

ORGANS = (
    "ỦY BAN NHÂN DÂN",
    "UBND THÀNH PHỐ ĐÀ NẴNG",
    "SỞ GIÁO DỤC VÀ ĐÀO TẠO",
    "THỦ TƯỚNG CHÍNH PHỦ",
    "BỘ TÀI CHÍNH",
    "BỘ NỘI VỤ",
    "SỞ XÂY DỰNG",
    "CÔNG AN TỈNH QUẢNG NAM",
    "UBND QUẬN HẢI CHÂU",
    "PHÒNG TÀI NGUYÊN VÀ MÔI TRƯỜNG",
    "HỘI ĐỒNG NHÂN DÂN",
    "VĂN PHÒNG CHÍNH PHỦ",
)
PLACES = ("Hà Nội", "Đà Nẵng", "Huế", "Hải Phòng", "Cần Thơ", "Quảng Nam", "Thanh Hóa", "Vinh")
NOTATIONS = ("QĐ-UBND", "KH-UBND", "TB-UBND", "CV-PA83", "SGDĐT-CTrTT", "TT-BTC", "NĐ-CP", "QĐ-TTg")
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
TYPES = ("QUYẾT ĐỊNH", "KẾ HOẠCH", "THÔNG BÁO", "CÔNG VĂN", "TỜ TRÌNH", "THÔNG TƯ", "BÁO CÁO")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def is_holdout(text: str) -> bool:
    return zlib.crc32(text.encode("utf-8")) % HOLDOUT_MODULUS == 0


def read_charset(unicharset: Path) -> frozenset[str]:
    """The characters a Tesseract model can output, from its ``lstm-unicharset``."""
    rows = unicharset.read_text(encoding="utf-8").splitlines()[1:]
    chars = {row.split(" ", 1)[0] for row in rows if row}
    return frozenset(c for c in chars if len(c) == 1)


def _paragraphs(folder: Path, pattern: str) -> list[str]:
    out = []
    for path in sorted(folder.glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = nfc(line).strip()
            if len(line) > 20 and not line.startswith("###"):
                out.append(re.sub(r"\s+", " ", line))
    return out


def _chunks(paragraph: str, rng: random.Random) -> Iterator[str]:
    words = paragraph.split(" ")
    i = 0
    while i < len(words):
        n = rng.randint(MIN_WORDS, MAX_WORDS)
        chunk = " ".join(words[i : i + n])
        i += n
        if len(chunk) >= 8:
            yield chunk


def header_line(rng: random.Random) -> str:
    """One line as a document's header prints it."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(ORGANS)
    if kind == 1:
        return rng.choice(MOTTO)
    if kind == 2:
        year = rng.randint(2005, 2026)
        return f"Số: {rng.randint(1, 2999)}/{year}/{rng.choice(NOTATIONS)}"
    if kind == 3:
        return f"Số: {rng.randint(1, 999)}/{rng.choice(NOTATIONS)}"
    if kind == 4:
        day, month = rng.randint(1, 31), rng.randint(1, 12)
        return (
            f"{rng.choice(PLACES)}, ngày {day:02d} tháng {month:02d} năm {rng.randint(2005, 2026)}"
        )
    return rng.choice(TYPES)


def corpus_lines(corpus: Path, charset: frozenset[str], seed: int) -> tuple[list[str], list[str]]:
    """(training candidates, held-out candidates), each shuffled deterministically."""
    rng = random.Random(seed)
    legal = _paragraphs(corpus / "legal-vlc-2023", "*.txt")
    wiki = _paragraphs(corpus / "viwiki", "viwiki-00[0-4].txt")
    rng.shuffle(legal)
    rng.shuffle(wiki)
    train: list[str] = []
    held: list[str] = []

    def take(source: list[str], limit: int) -> None:
        got = 0
        for paragraph in source:
            for chunk in _chunks(paragraph, rng):
                if not set(chunk) - {" "} <= charset:
                    continue
                (held if is_holdout(chunk) else train).append(chunk)
                got += 1
            if got >= limit:
                return

    take(legal, 60000)
    take(wiki, 20000)
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held


def pick(candidates: list[str], count: int, charset: frozenset[str], seed: int) -> list[str]:
    """``count`` lines: corpus lines (some in capitals) and header lines, legal weighted up."""
    rng = random.Random(seed)
    out: list[str] = []
    pool = iter(candidates)
    while len(out) < count:
        roll = rng.random()
        if roll < HEADER_SHARE:
            line = header_line(rng)
        else:
            line = next(pool)
            if roll < HEADER_SHARE + UPPER_SHARE:
                line = line.upper()
        if set(line) - {" "} <= charset:
            out.append(line)
    return out
