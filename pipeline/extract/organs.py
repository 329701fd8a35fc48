"""Is a header line a plausible organ name? And the OCR slips a fixed vocabulary undoes.

An organ's name is printed in capitals from a small vocabulary (Decree 30/2020 Annex
I): the organ's kind (ỦY BAN NHÂN DÂN, SỞ, BỘ, PHÒNG…), the administrative unit
(TỈNH, THÀNH PHỐ, HUYỆN…) and a place, or a ministry's field. Under a seal or a
signing system's stamp Tesseract reads such a line as fragments ("ỦY BAN NHÂN DÂN
THÀNH H PHÓ PH"); a name built from fragments is worse than no name, because search
and the catalogue show it as the organ. So a name is kept only when every word is a
Vietnamese syllable or a known abbreviation and it opens with an organ's kind.

Two slips are undone, because the vocabulary leaves no doubt: words run together
("HÀNỘI", "BANNHÂN" when the print is tight) are cut where a known phrase cuts them,
and a mark lost or changed inside a known phrase of two words or more ("THÀNH PHÓ" for
THÀNH PHỐ, "ĐÀ NĂNG" for ĐÀ NẴNG) is put back; a lone word that is itself a syllable is
left alone (PHONG of a place name is not PHÒNG). A word that is the phrase's own word in another but
equally correct placement of its tone mark ("HOÀ", "UỶ") stays as printed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from pipeline.lang.syllables import canonical, is_valid_syllable
from pipeline.lang.textnorm import fold, nfc

# Words an organ's own line starts with (a line that starts otherwise continues the line
# above: "ỦY BAN NHÂN DÂN" / "TỈNH LÀO CAI" is one organ on two lines).
ORGAN_STARTS = (
    "ỦY BAN",
    "UỶ BAN",
    "UBND",
    "HỘI ĐỒNG",
    "HĐND",
    "SỞ",
    "PHÒNG",
    "CỤC",
    "CHI CỤC",
    "TỔNG CỤC",
    "BỘ",
    "BAN",
    "VĂN PHÒNG",
    "TRUNG TÂM",
    "CÔNG AN",
    "QUỐC HỘI",
    "CHÍNH PHỦ",
    "THỦ TƯỚNG",
    "TÒA ÁN",
    "TOÀ ÁN",
    "VIỆN",
    "TRƯỜNG",
    "BỆNH VIỆN",
    "ĐẢNG ỦY",
    "ĐẢNG BỘ",
    "THÀNH ỦY",
    "TỈNH ỦY",
    "HUYỆN ỦY",
    "ĐOÀN",
    "HỘI",
    "KHO BẠC",
    "CHI NHÁNH",
    "BẢO HIỂM",
    "CỤC THUẾ",
    "CHI CỤC THUẾ",
    "THANH TRA",
    "KIỂM TOÁN",
    "NGÂN HÀNG",
    "HỌC VIỆN",
    "ĐẠI HỌC",
    "BỘ CHỈ HUY",
    "BỘ TƯ LỆNH",
    "MẶT TRẬN",
    "LIÊN ĐOÀN",
    "TỔNG CÔNG TY",
    "CÔNG TY",
    "ĐÀI",
    "BÁO",
)
ORGAN_STARTS_FOLDED = tuple(fold(w).lower() for w in ORGAN_STARTS)

# Capitals that are not syllables but are printed in organ names and governing bodies.
_ABBREVIATIONS = frozenset(
    (
        *("UBND", "HĐND", "TP", "TP.", "TX", "TT", "TW", "BCH", "BQL", "CP", "QH", "MTTQ"),
        *("BHXH", "THPT", "THCS", "ĐH", "CA", "PCCC", "LĐTBXH"),
    )
)
_ABBREVIATION = re.compile(r"^[A-ZĐ]{1,6}(?:&[A-ZĐ]{1,6})+$")  # GD&ĐT, KH&CN, NN&PTNT

# Phrases of organ headers (kinds, units) and the provinces, old (63) and merged (34).
_PHRASES = (
    "ỦY BAN NHÂN DÂN",
    "HỘI ĐỒNG NHÂN DÂN",
    "THỦ TƯỚNG CHÍNH PHỦ",
    "CHÍNH PHỦ",
    "QUỐC HỘI",
    "THÀNH PHỐ",
    "THỊ XÃ",
    "THỊ TRẤN",
    "TỈNH",
    "HUYỆN",
    "QUẬN",
    "PHƯỜNG",
    "ĐẶC KHU",
    "SỞ",
    "BỘ",
    "PHÒNG",
    "CÔNG AN",
    "GIÁO DỤC VÀ ĐÀO TẠO",
    "TÀI CHÍNH",
    "XÂY DỰNG",
    "NỘI VỤ",
    "TƯ PHÁP",
    "CÔNG THƯƠNG",
    "TÀI NGUYÊN VÀ MÔI TRƯỜNG",
    "NÔNG NGHIỆP VÀ MÔI TRƯỜNG",
    "KẾ HOẠCH VÀ ĐẦU TƯ",
    "Y TẾ",
    "VĂN HÓA",
    "GIAO THÔNG VẬN TẢI",
    "HÀ NỘI",
    "HỒ CHÍ MINH",
    "HẢI PHÒNG",
    "ĐÀ NẴNG",
    "CẦN THƠ",
    "HUẾ",
    "LAI CHÂU",
    "ĐIỆN BIÊN",
    "SƠN LA",
    "LẠNG SƠN",
    "QUẢNG NINH",
    "THANH HÓA",
    "NGHỆ AN",
    "HÀ TĨNH",
    "CAO BẰNG",
    "TUYÊN QUANG",
    "LÀO CAI",
    "THÁI NGUYÊN",
    "PHÚ THỌ",
    "BẮC NINH",
    "HƯNG YÊN",
    "NINH BÌNH",
    "QUẢNG TRỊ",
    "QUẢNG NGÃI",
    "GIA LAI",
    "KHÁNH HÒA",
    "LÂM ĐỒNG",
    "ĐẮK LẮK",
    "ĐỒNG NAI",
    "TÂY NINH",
    "VĨNH LONG",
    "ĐỒNG THÁP",
    "CÀ MAU",
    "AN GIANG",
    "HÀ GIANG",
    "YÊN BÁI",
    "BẮC KẠN",
    "HÒA BÌNH",
    "VĨNH PHÚC",
    "BẮC GIANG",
    "HẢI DƯƠNG",
    "THÁI BÌNH",
    "NAM ĐỊNH",
    "HÀ NAM",
    "QUẢNG BÌNH",
    "THỪA THIÊN HUẾ",
    "QUẢNG NAM",
    "KON TUM",
    "BÌNH ĐỊNH",
    "PHÚ YÊN",
    "NINH THUẬN",
    "BÌNH THUẬN",
    "ĐẮK NÔNG",
    "BÌNH PHƯỚC",
    "BÌNH DƯƠNG",
    "BÀ RỊA - VŨNG TÀU",
    "LONG AN",
    "TIỀN GIANG",
    "BẾN TRE",
    "TRÀ VINH",
    "SÓC TRĂNG",
    "HẬU GIANG",
    "BẠC LIÊU",
    "KIÊN GIANG",
)


def _key(words: Sequence[str]) -> str:
    """Letters only, folded: what a phrase and its run-together reading share."""
    return re.sub(r"[^a-z]", "", fold("".join(words)).lower())


@functools.cache
def _phrases() -> tuple[tuple[str, ...], ...]:
    """The phrases as word tuples, longest (in letters) first, so "THỊ XÃ" wins over "XÃ"."""
    words = [tuple(nfc(p).split()) for p in _PHRASES]
    return tuple(sorted(words, key=lambda w: -len(_key(w))))


def _resplit(observed: str, phrase: Sequence[str]) -> list[str] | None:
    """``observed`` (words run together, letters only) cut at the phrase's word lengths."""
    letters = [c for c in observed if c.isalpha()]
    out, at = [], 0
    for word in phrase:
        n = sum(1 for c in word if c.isalpha())
        out.append("".join(letters[at : at + n]))
        at += n
    return out if at == len(letters) else None


def repair(tokens: Sequence[str]) -> list[str]:
    """The tokens with run-together phrases cut and lost marks inside phrases put back."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        done = False
        for phrase in _phrases():
            letters = [w for w in phrase if w != "-"]
            want = _key(letters)
            # Up to one more observed token than the phrase has (a word cut in two).
            for k in range(1, len(letters) + 2):
                got = tokens[i : i + k]
                if len(got) < k or _key(got) != want:
                    continue
                pieces = _resplit("".join(got), letters)
                if pieces is None:
                    continue
                if len(letters) == 1 and k == 1 and is_valid_syllable(got[0]):
                    continue  # one word alone says too little: PHONG is not PHÒNG
                fixed = [
                    p if canonical(p.upper()) == canonical(w) else w
                    for p, w in zip(pieces, letters, strict=True)
                ]
                if "-" in phrase:
                    fixed.insert(phrase.index("-"), "-")
                out += fixed
                i += k
                done = True
                break
            if done:
                break
        if not done:
            out.append(tokens[i])
            i += 1
    return out


def _word_ok(word: str, before: str | None) -> bool:
    if word in ("-", "–") or word in _ABBREVIATIONS or _ABBREVIATION.match(word):
        return True
    if word.isdigit():  # QUẬN 1, PHƯỜNG 12
        return len(word) <= 2 and before is not None and fold(before).lower() in ("quan", "phuong")
    letters = word.rstrip(".,")
    return letters.isupper() and len(letters) > 1 and is_valid_syllable(letters)


def organ_name(text: str) -> str | None:
    """``text`` (a header line or two) as an organ's name, or None when it is not one.

    Run-together words and lost marks of known phrases are undone first; then every
    word must be a syllable in capitals or a known abbreviation, and the name must open
    with an organ's kind ("ỦY BAN", "SỞ", "BỘ", "THỦ TƯỚNG"…).
    """
    tokens = repair(nfc(text).split())
    if not tokens or not all(
        _word_ok(w, tokens[i - 1] if i else None) for i, w in enumerate(tokens)
    ):
        return None
    name = " ".join(tokens)
    folded = fold(name).lower()
    if not any(folded == s or folded.startswith(s + " ") for s in ORGAN_STARTS_FOLDED):
        return None
    return name
