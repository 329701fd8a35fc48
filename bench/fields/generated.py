"""Synthetic administrative pages whose document fields, and where they sit, are known.

Why: the field extractor of issue 13 must be scored on many more documents than the
three real scans in ``shared/data`` (see README.md), with every header variant a
one-stop-shop sees: organs with and without a governing body, the types of Decree 30
(QUYẾT ĐỊNH, KẾ HOẠCH, THÔNG BÁO, TỜ TRÌNH, BÁO CÁO, NGHỊ QUYẾT, THÔNG TƯ, a công
văn with "V/v", citizens' forms, the receipt), normative numbers with the year,
KT./TM./Q. signature blocks, handwritten numbers and days, seals over the signer.

``samples.generate`` lays out only a decision and a letter for four fixed agencies and
keeps no word boxes, so the header is drawn here, on top of its canvas, fonts, corpus,
seal and damage (``samples/generate.py`` is not edited). Every text drawn is recorded
with its box through a thin proxy around the canvas's ``ImageDraw``, so the boxes are
the renderer's own, and geometric damage (quarter turns, skew, border, phone warp,
150 dpi) moves them with the page.

Each page comes with its truth in the JSON shape of ``bench/fields/real/*.json``.
Deterministic: the same ``seed`` gives the same pages, fields and boxes.

    python -m bench.fields.generated --n 24 --seed 1 --dpi 200 --profile mix --out /tmp/gen
    python -m bench.fields.generated --n 4 --overlay --out /tmp/gen   # boxes drawn, to look at
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import random
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from samples import canvas, generate, layouts

FIELDS = (
    "organ_name",
    "governing_body",
    "code_number",
    "code_notation",
    "issued_date",
    "place",
    "type_name",
    "subject",
    "signer_name",
    "signer_position",
)
Box = tuple[int, int, int, int]
HAND_INK = (32, 48, 150)  # ballpoint blue of numbers and days filled in by hand

# ---------------------------------------------------------------- what varies


@dataclass(frozen=True)
class Organ:
    """An issuing organ as its header prints it, and how its documents are signed."""

    governing: str | None  # the line above the organ, None when the organ stands alone
    lines: tuple[str, ...]  # the organ's own bold line(s)
    abbr: str  # in the notation: QĐ-UBND, KH-SXD, ...
    head: str  # title of its head: GIÁM ĐỐC, CHỦ TỊCH, BỘ TRƯỞNG
    deputy: str  # title of a deputy who signs "KT."
    collective: str | None  # "ỦY BAN NHÂN DÂN" for "TM." blocks of collective bodies
    place: str  # place name of the date line
    depts: tuple[str, ...]  # unit abbreviations after the organ in a công văn notation
    running: str  # the organ's name in running text ("Kính gửi: ...")


ORGANS = (
    Organ(None, ("ỦY BAN NHÂN DÂN", "TỈNH LÀO CAI"), "UBND", "CHỦ TỊCH", "PHÓ CHỦ TỊCH",
          "ỦY BAN NHÂN DÂN", "Lào Cai", ("VP", "KT", "NC"), "Ủy ban nhân dân tỉnh Lào Cai"),
    Organ("UBND TỈNH LÀO CAI", ("SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG",), "STNMT", "GIÁM ĐỐC",
          "PHÓ GIÁM ĐỐC", None, "Lào Cai", ("QLĐĐ", "VP"),
          "Sở Tài nguyên và Môi trường tỉnh Lào Cai"),
    Organ("UBND TỈNH LÀO CAI", ("SỞ XÂY DỰNG",), "SXD", "GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", None,
          "Lào Cai", ("QLXD", "QHKT"), "Sở Xây dựng tỉnh Lào Cai"),
    Organ("UBND THÀNH PHỐ ĐÀ NẴNG", ("SỞ GIÁO DỤC VÀ ĐÀO TẠO",), "SGDĐT", "GIÁM ĐỐC",
          "PHÓ GIÁM ĐỐC", None, "Đà Nẵng", ("CTrTT", "VP", "GDTrH"),
          "Sở Giáo dục và Đào tạo thành phố Đà Nẵng"),
    Organ(None, ("ỦY BAN NHÂN DÂN", "THÀNH PHỐ ĐÀ NẴNG"), "UBND", "CHỦ TỊCH", "PHÓ CHỦ TỊCH",
          "ỦY BAN NHÂN DÂN", "Đà Nẵng", ("SGDĐT", "VP", "SNV"),
          "Ủy ban nhân dân thành phố Đà Nẵng"),
    Organ("UBND THỊ XÃ SA PA", ("PHÒNG TÀI CHÍNH - KẾ HOẠCH",), "TCKH", "TRƯỞNG PHÒNG",
          "PHÓ TRƯỞNG PHÒNG", None, "Sa Pa", ("NS",), "Phòng Tài chính - Kế hoạch thị xã Sa Pa"),
    Organ("BỘ NỘI VỤ", ("CỤC VĂN THƯ VÀ LƯU TRỮ", "NHÀ NƯỚC"), "VTLTNN", "CỤC TRƯỞNG",
          "PHÓ CỤC TRƯỞNG", None, "Hà Nội", ("NVĐP", "VP"), "Cục Văn thư và Lưu trữ nhà nước"),
    Organ(None, ("BỘ CÔNG THƯƠNG",), "BCT", "BỘ TRƯỞNG", "THỨ TRƯỞNG", None, "Hà Nội",
          ("ĐTĐL", "PC"), "Bộ Công Thương"),
    Organ(None, ("HỘI ĐỒNG NHÂN DÂN", "TỈNH LÀO CAI"), "HĐND", "CHỦ TỊCH", "PHÓ CHỦ TỊCH",
          "HỘI ĐỒNG NHÂN DÂN", "Lào Cai", ("VP",), "Hội đồng nhân dân tỉnh Lào Cai"),
    # The central organs (issue 22): the Prime Minister and ministries head their own
    # documents, with no governing body; their decisions say who decides under the subject.
    Organ(None, ("THỦ TƯỚNG CHÍNH PHỦ",), "TTg", "THỦ TƯỚNG", "PHÓ THỦ TƯỚNG", None, "Hà Nội",
          ("KTTH", "QHĐP", "NN"), "Thủ tướng Chính phủ"),
    Organ(None, ("BỘ TÀI CHÍNH",), "BTC", "BỘ TRƯỞNG", "THỨ TRƯỞNG", None, "Hà Nội",
          ("CST", "NSNN"), "Bộ Tài chính"),
    Organ(None, ("BỘ GIÁO DỤC", "VÀ ĐÀO TẠO"), "BGDĐT", "BỘ TRƯỞNG", "THỨ TRƯỞNG", None,
          "Hà Nội", ("GDPT", "VP"), "Bộ Giáo dục và Đào tạo"),
    Organ(None, ("ỦY BAN NHÂN DÂN", "THÀNH PHỐ HÀ NỘI"), "UBND", "CHỦ TỊCH", "PHÓ CHỦ TỊCH",
          "ỦY BAN NHÂN DÂN", "Hà Nội", ("KT", "VP", "ĐT"), "Ủy ban nhân dân thành phố Hà Nội"),
    Organ(None, ("ỦY BAN NHÂN DÂN", "THÀNH PHỐ HẢI PHÒNG"), "UBND", "CHỦ TỊCH",
          "PHÓ CHỦ TỊCH", "ỦY BAN NHÂN DÂN", "Hải Phòng", ("VP", "NC"),
          "Ủy ban nhân dân thành phố Hải Phòng"),
)  # fmt: skip
# Organs only the kinds that name them draw (the older kinds keep their local organs).
_CENTRAL = {"TTg", "BTC", "BGDĐT"}
_CITIES = ORGANS[-2:]  # People's Committees of Hà Nội and Hải Phòng, for e-office pages

_TOPICS = (
    "công tác cải cách hành chính",
    "chuyển đổi số trong giải quyết thủ tục hành chính",
    "số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
    "phòng, chống thiên tai và tìm kiếm cứu nạn",
    "quản lý đất đai trên địa bàn",
    "bảo đảm trật tự, an toàn giao thông",
    "phát triển nguồn nhân lực chất lượng cao",
    "cấp giấy phép xây dựng nhà ở riêng lẻ",
)
_PERIODS = ("năm 2026", "6 tháng đầu năm 2026", "quý I năm 2026", "giai đoạn 2026 - 2030")

# (key, heading, notation type code, how the subject reads, which organs may issue it)
_TYPES = (
    ("quyet_dinh", "QUYẾT ĐỊNH", "QĐ", "Về việc phê duyệt kế hoạch {topic} {period}", None),
    ("quyet_dinh_qppl", "QUYẾT ĐỊNH", "QĐ", "Ban hành Quy định về {topic}", ("UBND",)),
    ("ke_hoach", "KẾ HOẠCH", "KH", "Triển khai {topic} {period}", None),
    ("thong_bao", "THÔNG BÁO", "TB", "Kết luận của lãnh đạo về {topic}", None),
    ("to_trinh", "TỜ TRÌNH", "TTr", "Về việc đề nghị phê duyệt dự toán {topic}", None),
    ("bao_cao", "BÁO CÁO", "BC", "Kết quả thực hiện {topic} {period}", None),
    ("nghi_quyet", "NGHỊ QUYẾT", "NQ", "Quy định mức chi hỗ trợ {topic}", ("HĐND",)),
    ("thong_tu", "THÔNG TƯ", "TT", "Quy định chi tiết về {topic}", ("BCT", "BTC", "BGDĐT")),
    ("cong_van", None, None, "{verb} {topic}", None),
    ("quyet_dinh_ttg", "QUYẾT ĐỊNH", "QĐ", "Phê duyệt Chương trình {topic} {period}", ("TTg",)),
    ("quyet_dinh_bo", "QUYẾT ĐỊNH", "QĐ", "Về việc ban hành Kế hoạch {topic} {period}",
     ("BTC", "BGDĐT", "BCT")),
    ("chi_thi", "CHỈ THỊ", "CT", "Về việc tăng cường {topic}", ("TTg", "UBND")),
    ("cong_van_ttg", None, None, "{verb} {topic}", ("TTg",)),
)  # fmt: skip
_NORMATIVE = {"quyet_dinh_qppl", "nghi_quyet", "thong_tu"}  # the number carries the year
# Kinds whose pages are made as the e-office systems make them (Times-like face, the
# number and the day typed into the blanks after signing) more often than the others.
_EOFFICE_KINDS = {"quyet_dinh_ttg", "quyet_dinh_bo", "chi_thi", "cong_van_ttg", "thong_tu"}
_ADDRESSEES = (
    "Các sở, ban, ngành",
    "Ủy ban nhân dân các huyện, thị xã, thành phố",
    "Các cơ quan, đơn vị liên quan",
)
_LETTER_VERBS = ("hướng dẫn thực hiện", "đôn đốc triển khai", "góp ý dự thảo quy định về")
# citizens' forms: (type word, rest of the title)
_FORMS = (
    ("ĐƠN", "ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG"),
    ("ĐƠN", "ĐĂNG KÝ BIẾN ĐỘNG ĐẤT ĐAI, TÀI SẢN GẮN LIỀN VỚI ĐẤT"),
    ("TỜ KHAI", "CẤP BẢN SAO TRÍCH LỤC HỘ TỊCH"),
)
RECEIPT_TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
KINDS = (*(t[0] for t in _TYPES), "don", "giay_tiep_nhan")
# The e-office set (issue 22): the central organs' kinds and the local ones they fill in.
EOFFICE_KINDS = (
    "quyet_dinh_ttg",
    "quyet_dinh_bo",
    "thong_tu",
    "chi_thi",
    "cong_van_ttg",
    "quyet_dinh",
    "ke_hoach",
    "cong_van",
)
PROFILE_MIX = ("clean", "skew", "photocopy", "blur_jpeg", "skew+noise", "seal+faded", "dpi150")


# ---------------------------------------------------------------- recording boxes


class _RecordingDraw:
    """Wraps an ``ImageDraw`` and keeps the box of every text it draws, in draw order."""

    def __init__(self, inner: ImageDraw.ImageDraw, drawn: list[tuple[str, Box]]):
        self._inner = inner
        self._drawn = drawn

    def text(self, xy: tuple[float, float], text: str, *args: object, **kwargs: object) -> None:
        font = kwargs.get("font")
        anchor = kwargs.get("anchor")
        box = self._inner.textbbox(xy, text, font=font, anchor=anchor)
        self._drawn.append((text, tuple(round(v) for v in box)))
        self._inner.text(xy, text, *args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


_TIMES_FILES = {
    "regular": "FreeSerif.ttf",
    "bold": "FreeSerifBold.ttf",
    "italic": "FreeSerifItalic.ttf",
    "bolditalic": "FreeSerifBoldItalic.ttf",
}


@functools.cache
def times_path(style: str) -> str:
    """A Times-like face with every Vietnamese letter (GNU FreeSerif), else Noto Serif.

    Why: the e-office systems print in Times New Roman, whose letters are narrower and
    whose numbers sit differently from Noto Serif's; Liberation Serif lacks Vietnamese.
    """
    return canvas._scan_fonts(_TIMES_FILES[style]) or canvas.font_path(style)


@functools.lru_cache(maxsize=128)
def _times(style: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(times_path(style), size_px)


@dataclass(frozen=True)
class Piece:
    """One run of a line drawn in pieces: its text, face, size, colour, and where it sits.

    ``dy`` moves it down (up when negative) from the line's baseline, as a number typed
    into a blank after signing sits; ``width`` reserves a blank of that many pixels.
    """

    text: str
    style: str
    pt: float
    colour: tuple[int, int, int] | None = None
    dy: int = 0
    width: float | None = None


class _Canvas(canvas._Canvas):
    """samples.generate's canvas, with every text box recorded in ``drawn``."""

    def __init__(
        self,
        dpi: int,
        paper: tuple[int, int, int],
        ink: tuple[int, int, int],
        face: str = "noto",
    ):
        super().__init__(dpi, paper, ink)
        self.face = face
        self.drawn: list[tuple[str, Box]] = []
        self.draw = _RecordingDraw(self.draw, self.drawn)

    def font(self, style: str, pt: float) -> ImageFont.FreeTypeFont:
        if self.face == "times":
            return _times(style, round(pt * self.dpi / 72))
        return super().font(style, pt)

    def mark(self) -> int:
        """Index of the next recorded text; ``since(mark)`` is the union drawn after it."""
        return len(self.drawn)

    def since(self, start: int, end: int | None = None) -> Box:
        boxes = [b for _t, b in self.drawn[start:end]]
        if not boxes:
            raise ValueError("nothing drawn since the mark")
        return _union(boxes)

    def pieces(
        self, parts: Sequence[Piece | tuple], x0: int, x1: int, y: int
    ) -> tuple[int, list[Box]]:
        """One centred line drawn in pieces (style, size, colour each); boxes per piece.

        Why: the number and the notation, the place and the date, must get boxes of
        their own, and a handwritten or typed-in number a colour, face and place of its own.
        """
        parts = [p if isinstance(p, Piece) else Piece(*p) for p in parts]
        fonts = [self.font(p.style, p.pt) for p in parts]
        widths = [
            p.width if p.width is not None else f.getlength(p.text)
            for f, p in zip(fonts, parts, strict=True)
        ]
        x = x0 + (x1 - x0 - sum(widths)) / 2
        ascent = max(f.getmetrics()[0] for f in fonts)
        boxes = []
        for font, width, part in zip(fonts, widths, parts, strict=True):
            start = self.mark()
            if part.text.strip():
                self.draw.text(
                    (x, y + ascent + part.dy),
                    part.text,
                    font=font,
                    fill=part.colour or self.ink,
                    anchor="ls",
                )
                boxes.append(self.since(start))
            else:
                boxes.append((round(x), y, round(x + width), y + ascent))
            x += width
        self.lines.append(_nfc("".join(p.text for p in parts).strip()))
        return y + round(max(f.size for f in fonts) * 1.3), boxes


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# ---------------------------------------------------------------- one page


@dataclass
class LabelledPage:
    """A rendered page and its document fields in the shape of bench/fields/real/*.json."""

    page: generate.GeneratedPage
    truth: dict


def _date_parts(place: str, day: dt.date, hand: bool) -> list:
    """The line "<place>, ngày DD tháng M năm YYYY" (Decree 30 zeros) as pieces.

    A day filled in by hand keeps no leading zero and gets the pen's face and colour.
    """
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    dd = f"{day.day:02d}" if not hand else str(day.day)
    hand_piece = (
        (f" {dd} ", "bolditalic", 14.5, HAND_INK) if hand else (f" {dd} ", "italic", 13.5, None)
    )
    return [
        (f"{place},", "italic", 13.5, None),
        (" ngày", "italic", 13.5, None),
        hand_piece,
        (f"tháng {month} năm {day.year}", "italic", 13.5, None),
    ]


def _typed(text: str, cv: _Canvas, srng: random.Random, pt: float = 13.0) -> Piece:
    """A number or a day typed into its blank by the e-office system after signing: the
    template's face at about its size, off the template's baseline by a few points."""
    size = pt + srng.choice((-0.5, 0.0, 0.0, 0.5, 1.0))
    dy = round(srng.uniform(-0.2, 0.12) * cv.font("regular", pt).size)
    return Piece(text, srng.choice(("regular", "regular", "bold")), size, None, dy)


def _blank(cv: _Canvas, srng: random.Random, lo_mm: float, hi_mm: float) -> Piece:
    return Piece(" ", "regular", 13, width=cv.mm(srng.uniform(lo_mm, hi_mm)))


def _eoffice_number(cv: _Canvas, srng: random.Random, number: int, notation: str) -> list:
    """ "Số:173" then a blank the number did not fill, then "/KH-UBND" (issue 22)."""
    return [
        Piece("Số:", "regular", 13),
        Piece(" " if srng.random() < 0.5 else "", "regular", 13),
        _typed(str(number), cv, srng),
        _blank(cv, srng, 6, 20),
        Piece(f"/{notation}", "regular", 13),
    ]


def _eoffice_date(cv: _Canvas, srng: random.Random, place: str, day: dt.date) -> list:
    """ "Hà Nội, ngày 28" · "tháng 4" · "năm 2026": day and month typed apart (issue 22)."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return [
        Piece(f"{place},", "italic", 13.5),
        Piece(" ngày ", "italic", 13.5),
        _typed(f"{day.day:02d}" if day.day < 10 else str(day.day), cv, srng, 13.5),
        _blank(cv, srng, 4, 12),
        Piece("tháng ", "italic", 13.5),
        _typed(month, cv, srng, 13.5),
        _blank(cv, srng, 3, 9),
        Piece(f"năm {day.year}", "italic", 13.5),
    ]


def _authority(organ: Organ) -> str:
    """Who decides, as a decision prints it under its subject ("THỦ TƯỚNG CHÍNH PHỦ")."""
    if organ.abbr == "TTg":
        return "THỦ TƯỚNG CHÍNH PHỦ"
    return f"{organ.head} {' '.join(organ.lines)}"


def _signer_lines(organ: Organ, mode: str) -> list[str]:
    """The authority lines of the signature block for a signing mode (Decree 30 art. 13)."""
    if mode == "tm" and organ.collective:
        return [f"TM. {organ.collective}", organ.head]
    if mode == "tm_kt" and organ.collective:
        return [f"TM. {organ.collective}", f"KT. {organ.head}", organ.deputy]
    if mode == "kt":
        return [f"KT. {organ.head}", organ.deputy]
    if mode == "q":
        return [f"Q. {organ.head}"]
    return [organ.head]


def _person(rng: random.Random) -> str:
    return (
        f"{rng.choice(canvas._SURNAMES)} {rng.choice(canvas._MIDDLE)} {rng.choice(canvas._GIVEN)}"
    )


def _render_official(
    cv: _Canvas, kind: str, rng: random.Random, srng: random.Random, eoffice: bool
) -> tuple[dict, dict, dict]:
    """Header, heading, subject, body, signature of an organ's document; (fields, where, info).

    ``srng`` draws what issue 22 added (the cities, the typed-in number and day, the seal
    over the organ), so pages of the older kinds that do not use them stay as they were.
    """
    key, heading, code, subject_tpl, issuers = next(t for t in _TYPES if t[0] == kind)
    candidates = [o for o in ORGANS if issuers is None or o.abbr in issuers]
    candidates = [o for o in candidates if issuers is not None or o.abbr not in _CENTRAL]
    if kind not in _NORMATIVE and issuers is None:
        candidates = [o for o in candidates if o.abbr not in ("HĐND", "BCT")]
    older = [o for o in candidates if o not in _CITIES]
    organ = rng.choice(older or candidates)
    if eoffice and organ.abbr == "UBND" and srng.random() < 0.5:
        organ = srng.choice(_CITIES)
    fields: dict = dict.fromkeys(FIELDS)
    where: dict = dict.fromkeys(FIELDS)
    issued = dt.date(2026, 1, 2) + dt.timedelta(days=rng.randrange(360))
    number = rng.randrange(1, 60) if key in _NORMATIVE else rng.randrange(1, 4000)
    if heading is None:
        notation = f"{organ.abbr}-{rng.choice(organ.depts)}"
    elif key in _NORMATIVE:
        notation = f"{issued.year}/{code}-{organ.abbr}"
    else:
        notation = f"{code}-{organ.abbr}"
    hand_number = rng.random() < 0.35
    hand_day = hand_number and rng.random() < 0.7
    eoffice = eoffice and not hand_number

    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    rx0, rx1 = cv.left + cv.mm(62), cv.right + cv.mm(4)
    y0 = cv.mm(rng.uniform(14, 22))
    ly = y0
    if organ.governing:
        start = cv.mark()
        ly = cv.put(organ.governing, "regular", 12.5, lx0, lx1, ly)
        fields["governing_body"], where["governing_body"] = organ.governing, cv.since(start)
    start = cv.mark()
    for i, line in enumerate(organ.lines):
        last = i == len(organ.lines) - 1
        ly = cv.put(line, "bold", 12.5, lx0, lx1, ly, rule=0.4 if last else 0)
    fields["organ_name"], where["organ_name"] = " ".join(organ.lines), cv.since(start)
    ry = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 12.5, rx0, rx1, y0)
    ry = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 13.5, rx0, rx1, ry, rule=1.0)
    row = max(ly, ry) + cv.mm(1)

    if eoffice:
        parts = _eoffice_number(cv, srng, number, notation)
    elif hand_number:  # a blank left for the number, filled in by hand after signing
        parts = [
            ("Số:", "regular", 13, None),
            (" ", "regular", 13, None),
            (str(number), "bolditalic", 15, HAND_INK),
            ("   ", "regular", 13, None),
            (f"/{notation}", "regular", 13, None),
        ]
    else:
        parts = [
            ("Số: ", "regular", 13, None),
            (str(number), "regular", 13, None),
            (f"/{notation}", "regular", 13, None),
        ]
    ly, boxes = cv.pieces(parts, lx0, lx1, row)
    fields["code_number"], where["code_number"] = number, boxes[2 if hand_number or eoffice else 1]
    fields["code_notation"], where["code_notation"] = notation, boxes[-1]
    if eoffice:
        date_parts = _eoffice_date(cv, srng, organ.place, issued)
    else:
        date_parts = _date_parts(organ.place, issued, hand_day)
    ry, dboxes = cv.pieces(date_parts, rx0, rx1, row)
    fields["place"], where["place"] = organ.place, dboxes[0]
    fields["issued_date"], where["issued_date"] = issued.isoformat(), _union(dboxes[1:])
    y = max(ly, ry)

    topic = rng.choice(_TOPICS)
    if heading is None:
        subject = subject_tpl.format(verb=rng.choice(_LETTER_VERBS), topic=topic)
        marker = rng.choice(("V/v", "V/v", "v/v"))
        start = cv.mark()
        font = cv.font("regular", 12)
        for line in cv.wrap(f"{marker} {subject}", font, lx1 - lx0 - cv.mm(6), 0):
            y = cv.put(" ".join(line), "regular", 12, lx0, lx1, y, leading=1.2)
        first, (x0, y0_, x1, y1) = cv.drawn[start]
        share = font.getlength(marker) / max(1.0, font.getlength(first))
        fields["type_name"] = "CÔNG VĂN"  # its evidence: the V/v marker, the first word
        where["type_name"] = (x0, y0_, x0 + math.ceil((x1 - x0) * share), y1)
        fields["subject"], where["subject"] = subject, cv.since(start)
        y = cv.put(
            f"Kính gửi: {rng.choice(_ADDRESSEES)}", "regular", 14, cv.left, cv.right, y + cv.mm(6)
        )
    else:
        y += cv.mm(6)
        start = cv.mark()
        y = cv.put(heading, "bold", 14, cv.left, cv.right, y)
        fields["type_name"], where["type_name"] = heading, cv.since(start)
        subject = subject_tpl.format(topic=topic, period=rng.choice(_PERIODS))
        start = cv.mark()
        for line in cv.wrap(subject, cv.font("bold", 14), cv.right - cv.left - cv.mm(20), 0):
            y = cv.put(" ".join(line), "bold", 14, cv.left, cv.right, y)
        fields["subject"], where["subject"] = subject, cv.since(start)
        if code == "QĐ" and (key != "quyet_dinh" or eoffice):  # who decides, under a rule
            mid, ry = (cv.left + cv.right) / 2, y + cv.mm(1)
            cv.draw.line(
                [(mid - cv.mm(15), ry), (mid + cv.mm(15), ry)], fill=cv.ink, width=cv.mm(0.3)
            )
            y = cv.put(_authority(organ), "bold", 14, cv.left, cv.right, ry + cv.mm(3))
        y += cv.mm(4)
    body_top = y = y + cv.mm(2)
    if code in ("QĐ", "NQ", "TT"):  # the legal bases, then the enacting word
        for citation in rng.sample(canvas._corpus()[1], 2):
            y = cv.paragraph(citation, y, style="italic")
        enact = {"QĐ": "QUYẾT ĐỊNH:", "NQ": "QUYẾT NGHỊ:", "TT": None}[code]
        if enact:
            y = cv.put(enact, "bold", 14, cv.left, cv.right, y + cv.mm(1))
    y = layouts._fill(cv, y, cv.bottom - cv.mm(78), rng, rng.randrange(3, 7))
    body_bottom = y

    y += cv.mm(4)
    ly = cv.put("Nơi nhận:", "bolditalic", 12, cv.left, cv.left + cv.mm(70), y, align="left")
    for item in ("- Như trên;", f"- Lưu: VT, {rng.choice(organ.depts)}."):
        ly = cv.put(item, "regular", 11, cv.left, cv.left + cv.mm(70), ly, align="left")
    modes = ["head", "kt", "q"] + (["tm", "tm_kt"] if organ.collective else [])
    lines = _signer_lines(organ, rng.choice(modes))
    signer = _person(rng)
    start = cv.mark()
    sx0, sx1 = cv.left + cv.mm(75), cv.right + cv.mm(4)
    _y, centre = layouts._signature(cv, y, sx0, sx1, [(t, "bold") for t in lines], signer, rng)
    fields["signer_position"] = " / ".join(lines)
    where["signer_position"] = cv.since(start, start + len(lines))
    fields["signer_name"], where["signer_name"] = signer, cv.since(cv.mark() - 1)
    ring = f"{(organ.governing or '').replace('UBND', 'ỦY BAN NHÂN DÂN')} • {' '.join(organ.lines)}"
    info = {"body": (body_top, body_bottom), "signature": centre, "ring_text": ring.strip(" •")}
    return fields, where, info


def _render_form(cv: _Canvas, rng: random.Random) -> tuple[dict, dict, dict]:
    """A citizen's application: motto, title, answers, date and signature at the bottom."""
    word, rest = rng.choice(_FORMS)
    fields: dict = dict.fromkeys(FIELDS)
    where: dict = dict.fromkeys(FIELDS)
    y = cv.mm(20)
    y = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 13, cv.left, cv.right, y)
    y = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 14, cv.left, cv.right, y, rule=1.0)
    y += cv.mm(8)
    title = f"{word} {rest}"
    start = cv.mark()
    y = cv.put(title, "bold", 14, cv.left, cv.right, y)
    fields["type_name"], fields["subject"] = word, rest
    where["type_name"] = where["subject"] = cv.since(start)
    organ = rng.choice([o for o in ORGANS if o.abbr not in ("HĐND", "BCT")])
    y = cv.put(f"Kính gửi: {organ.running}", "regular", 14, cv.left, cv.right, y)
    applicant = _person(rng)
    body_top = y + cv.mm(4)
    y = body_top
    for item in (
        f"1. Họ và tên người đề nghị: {applicant}",
        f"2. Số định danh cá nhân: 0{rng.randrange(10**10, 10**11)}",
        "3. Nội dung đề nghị:",
    ):
        y = cv.paragraph(item, y, indent_mm=0, justify=False) or y
    y = layouts._fill(cv, y, cv.bottom - cv.mm(80), rng, 3)
    body_bottom = y
    x0, x1 = (cv.left + cv.right) // 2 - cv.mm(10), cv.right + cv.mm(4)
    day = dt.date(2026, 1, 2) + dt.timedelta(days=rng.randrange(360))
    y, dboxes = cv.pieces(_date_parts(organ.place, day, False), x0, x1, y + cv.mm(4))
    fields["place"], where["place"] = organ.place, dboxes[0]
    fields["issued_date"], where["issued_date"] = day.isoformat(), _union(dboxes[1:])
    start = cv.mark()
    _y, centre = layouts._signature(
        cv,
        y,
        x0,
        x1,
        [("NGƯỜI LÀM ĐƠN", "bold"), ("(Ký, ghi rõ họ tên)", "italic")],
        applicant,
        rng,
    )
    fields["signer_position"], where["signer_position"] = (
        "NGƯỜI LÀM ĐƠN",
        cv.since(start, start + 1),
    )
    fields["signer_name"], where["signer_name"] = applicant, cv.since(cv.mark() - 1)
    return fields, where, {"body": (body_top, body_bottom), "signature": centre}


def _render_receipt(cv: _Canvas, rng: random.Random) -> tuple[dict, dict, dict, str]:
    """A receipt of the one-stop shop: QR of the dossier code at the top left, no number."""
    fields: dict = dict.fromkeys(FIELDS)
    where: dict = dict.fromkeys(FIELDS)
    received = dt.date(2026, 1, 2) + dt.timedelta(days=rng.randrange(360))
    code = f"000.00.13.H38-{received:%y%m%d}-{rng.randrange(1, 9999):04d}"
    cv.qr(code, cv.mm(5), cv.mm(6))
    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    rx0, rx1 = cv.left + cv.mm(62), cv.right + cv.mm(4)
    y0 = cv.mm(22)
    start = cv.mark()
    ly = cv.put("UBND TỈNH LÀO CAI", "regular", 12.5, lx0, lx1, y0)
    fields["governing_body"], where["governing_body"] = "UBND TỈNH LÀO CAI", cv.since(start)
    start = cv.mark()
    ly = cv.put("TRUNG TÂM PHỤC VỤ", "bold", 12.5, lx0, lx1, ly)
    ly = cv.put("HÀNH CHÍNH CÔNG", "bold", 12.5, lx0, lx1, ly, rule=0.4)
    fields["organ_name"], where["organ_name"] = "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG", cv.since(start)
    ry = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 12.5, rx0, rx1, y0)
    ry = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 13.5, rx0, rx1, ry, rule=1.0)
    row = max(ly, ry) + cv.mm(1)
    ry, dboxes = cv.pieces(_date_parts("Lào Cai", received, False), rx0, rx1, row)
    fields["place"], where["place"] = "Lào Cai", dboxes[0]
    fields["issued_date"], where["issued_date"] = received.isoformat(), _union(dboxes[1:])
    y = ry + cv.mm(6)
    start = cv.mark()
    y = cv.put(RECEIPT_TITLE, "bold", 14, cv.left, cv.right, y)
    fields["type_name"], where["type_name"] = RECEIPT_TITLE, cv.since(start)
    y = cv.put(f"Mã hồ sơ: {code}", "bold", 13.5, cv.left, cv.right, y)
    body_top = y + cv.mm(3)
    applicant, clerk = _person(rng), _person(rng)
    y = cv.paragraph(
        f"Trung tâm Phục vụ hành chính công tỉnh Lào Cai tiếp nhận hồ sơ của: {applicant}",
        body_top,
        justify=False,
    )
    y = layouts._fill(cv, y, cv.bottom - cv.mm(80), rng, 2)
    body_bottom = y
    mid = (cv.left + cv.right) // 2
    layouts._signature(
        cv,
        y + cv.mm(6),
        cv.left - cv.mm(10),
        mid,
        [("NGƯỜI NỘP HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        applicant,
        rng,
    )
    start = cv.mark()
    _y, centre = layouts._signature(
        cv,
        y + cv.mm(6),
        mid,
        cv.right,
        [("NGƯỜI TIẾP NHẬN HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        clerk,
        rng,
    )
    fields["signer_position"] = "NGƯỜI TIẾP NHẬN HỒ SƠ"
    where["signer_position"] = cv.since(start, start + 1)
    fields["signer_name"], where["signer_name"] = clerk, cv.since(cv.mark() - 1)
    return fields, where, {"body": (body_top, body_bottom), "signature": centre}, code


def shared_data() -> Path:
    """The shared data folder: ``SOHOA_SHARED_DATA``, else the first ``shared/data`` above here.

    Why: ``samples.generate`` looks for ``../shared/data`` next to the checkout, which a
    git worktree one level deeper (``/work/wt/<branch>``) does not have.
    """
    if os.environ.get("SOHOA_SHARED_DATA"):
        return Path(os.environ["SOHOA_SHARED_DATA"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data" / "vi-corpus").is_dir():
            return parent / "shared" / "data"
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def ensure_corpus() -> None:
    """Point samples.generate at the shared corpus unless the environment already does."""
    if not os.environ.get("SOHOA_VI_CORPUS"):
        os.environ.setdefault("SOHOA_SHARED_DATA", str(shared_data()))


def render_labelled(
    kind: str,
    *,
    seed: int,
    dpi: int = 200,
    seal: bool | None = None,
    eoffice: bool | None = None,
) -> LabelledPage:
    """One clean page of ``kind`` (see KINDS) with its true fields and boxes at ``dpi``.

    ``eoffice`` (default: drawn by seed, more often for the central organs' kinds) makes
    the page as the e-office systems do: Times-like face, the number and the day typed
    into the blanks off the template's baseline, sometimes the organ's red seal image
    over its name.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    ensure_corpus()
    rng = canvas._py_rng("fields", kind, seed)
    srng = canvas._py_rng("fields-eoffice", kind, seed)
    official = kind not in ("don", "giay_tiep_nhan")
    if eoffice is None:
        eoffice = official and srng.random() < (0.7 if kind in _EOFFICE_KINDS else 0.25)
    eoffice = eoffice and official
    shade = rng.randrange(242, 253)
    paper = (shade + 2, shade + 1, max(0, shade - rng.randrange(3, 9)))
    grey = rng.randrange(15, 50)
    cv = _Canvas(dpi, paper, (grey, grey, grey + 3), face="times" if eoffice else "noto")
    code = None
    if kind == "don":
        fields, where, info = _render_form(cv, rng)
    elif kind == "giay_tiep_nhan":
        fields, where, info, code = _render_receipt(cv, rng)
    else:
        fields, where, info = _render_official(cv, kind, rng, srng, eoffice)
    image = cv.img
    organ_seal = eoffice and srng.random() < 0.4
    if organ_seal:  # the organ's seal image the signing system puts over its name
        x0, y0, _x1, y1 = where["organ_name"]
        centre = (x0 + cv.mm(srng.uniform(2, 10)), (y0 + y1) // 2 + cv.mm(srng.uniform(-3, 6)))
        image = canvas.stamp_seal(
            image, centre, dpi, info.get("ring_text") or "ỦY BAN NHÂN DÂN", srng
        )
    seal = (kind not in ("don", "giay_tiep_nhan") and rng.random() < 0.6) if seal is None else seal
    if seal and "signature" in info:  # over the left part of the signer block, as stamped
        sx, sy = info["signature"]
        centre = (sx - cv.mm(rng.uniform(14, 20)), sy - cv.mm(rng.uniform(0, 6)))
        image = canvas.stamp_seal(
            image, centre, dpi, info.get("ring_text") or "ỦY BAN NHÂN DÂN", rng
        )
    body = info["body"]
    info.update(body=(body[0] / cv.h, body[1] / cv.h), paper=paper, ink=cv.ink, seal=seal)
    info.setdefault("ring_text", "ỦY BAN NHÂN DÂN TỈNH LÀO CAI")
    page = generate.GeneratedPage(image, dpi, "\n".join(cv.lines), code, kind, {}, info)
    truth = {
        "doc_id": f"gen-{kind}-{seed}",
        "source": f"bench.fields.generated kind={kind} seed={seed}",
        "pages": [1, 1],
        "render": {"dpi": dpi, "command": "bench.fields.generated.render_labelled"},
        "kind": "administrative",
        "checked_by_eye": False,
        **{k: _nfc(v) if isinstance(v, str) else v for k, v in fields.items()},
        "where": {k: ({"page": 1, "box": list(b)} if b else None) for k, b in where.items()},
        "notes": [],
        "profile": "clean",
        "params": {
            "seal": seal,
            "dossier_code": code,
            **({"eoffice": True, "organ_seal": organ_seal} if eoffice else {}),
        },
    }
    return LabelledPage(page, truth)


# ---------------------------------------------------------------- damage moves the boxes


PointMap = Callable[[float, float], tuple[float, float]]


def _move(box: list[int], fn: PointMap) -> list[int]:
    xs, ys = zip(
        *(
            fn(x, y)
            for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3]))
        ),
        strict=True,
    )
    return [math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)), math.ceil(max(ys))]


def _point_map(
    name: str, found: dict, before: Image.Image, after: Image.Image, dpi: int
) -> PointMap | None:
    """How one damage step moves a point, or None when it does not move anything."""
    w, h = before.size
    if name in ("rotate90", "rotate180", "rotate270"):
        return {
            "rotate90": lambda x, y: (y, w - x),
            "rotate180": lambda x, y: (w - x, h - y),
            "rotate270": lambda x, y: (h - y, x),
        }[name]
    if name == "skew":  # PIL rotate(expand=True): counter-clockwise about the centre
        t = math.radians(found["skew"])
        c, s = math.cos(t), math.sin(t)
        nw, nh = after.size
        return lambda x, y: (
            c * (x - w / 2) + s * (y - h / 2) + nw / 2,
            -s * (x - w / 2) + c * (y - h / 2) + nh / 2,
        )
    if name == "border":
        return lambda x, y: (x + found["border"]["left"], y + found["border"]["top"])
    if name == "dpi150" and dpi != 150:
        k = after.size[0] / w
        return lambda x, y: (x * k, y * k)
    if name == "phone":
        import cv2

        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        m = cv2.getPerspectiveTransform(src, np.float32(found["phone"]["corners"]))

        def warp(x: float, y: float) -> tuple[float, float]:
            px, py, pw = m @ np.array([x, y, 1.0])
            return px / pw, py / pw

        return warp
    return None


def degrade_labelled(item: LabelledPage, profile: str, *, seed: int) -> LabelledPage:
    """``samples.generate.degrade`` step by step, moving the boxes with each geometric step.

    Why step by step: each step draws from its own stream (seed, step name) and reads only
    the clean page's info, so the pixels are those of one ``degrade`` call with the whole
    profile; but only between steps are the sizes known that a box map needs.
    """
    page, truth = item.page, json.loads(json.dumps(item.truth))
    for name, arg in generate.parse_profile(profile):
        token = f"{name}:{arg}" if arg else name
        before_params = dict(page.params)
        nxt = generate.degrade(page, token, seed=seed)
        found = {k: v for k, v in nxt.params.items() if before_params.get(k) != v}
        if name == "skew":
            found["skew"] = round(nxt.params.get("skew", 0.0) - before_params.get("skew", 0.0), 2)
        fn = _point_map(name, found, page.image, nxt.image, page.dpi)
        if fn is not None:
            for spot in truth["where"].values():
                if spot:
                    spot["box"] = _move(spot["box"], fn)
        page = nxt
    page.params["profile"] = profile
    truth["profile"] = profile
    truth["params"] = {
        **truth["params"],
        **{k: v for k, v in page.params.items() if k != "profile"},
    }
    truth["render"] = {**truth["render"], "dpi": page.dpi}
    return LabelledPage(page, truth)


def labelled_set(
    n: int,
    *,
    seed: int = 0,
    dpi: int = 200,
    profiles: Sequence[str] = ("clean",),
    kinds: Sequence[str] = KINDS,
    eoffice: bool | None = None,
) -> list[LabelledPage]:
    """``n`` pages cycling through ``kinds`` and ``profiles`` (seeded): the generated set.

    The kind cycles fastest so that any ``n`` ≥ len(kinds) covers every type; the profile
    of page i is ``profiles[(i // len(kinds)) % len(profiles)]`` shifted by i, so each kind
    meets each damage as n grows.
    """
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        page_seed = canvas._seed_int("fieldset", seed, i) % 2**31
        profile = profiles[(i + i // len(kinds)) % len(profiles)]
        item = render_labelled(kind, seed=page_seed, dpi=dpi, eoffice=eoffice)
        if profile != "clean":
            item = degrade_labelled(item, profile, seed=page_seed)
        item.truth["doc_id"] = f"gen-{seed}-{i:03d}-{kind}"
        out.append(item)
    return out


# ---------------------------------------------------------------- CLI


def _overlay(item: LabelledPage) -> Image.Image:
    img = item.page.image.convert("RGB").copy()
    draw = ImageDraw.Draw(img)
    for name, spot in item.truth["where"].items():
        if spot:
            draw.rectangle(spot["box"], outline=(0, 150, 255), width=2)
            draw.text((spot["box"][0], spot["box"][1] - 12), name, fill=(0, 110, 230))
    return img


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fields.generated", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--n", type=int, default=len(KINDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument(
        "--profile",
        default="clean",
        help="a damage profile for all pages, or 'mix' to cycle " + ", ".join(PROFILE_MIX),
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for PNG + JSON pairs")
    parser.add_argument("--overlay", action="store_true", help="also write the boxes drawn")
    args = parser.parse_args(argv)
    profiles = PROFILE_MIX if args.profile == "mix" else (args.profile,)
    args.out.mkdir(parents=True, exist_ok=True)
    for item in labelled_set(args.n, seed=args.seed, dpi=args.dpi, profiles=profiles):
        stem = args.out / item.truth["doc_id"]
        generate.write_png(item.page, stem.with_suffix(".png"))
        stem.with_suffix(".json").write_text(
            json.dumps(item.truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        if args.overlay:
            _overlay(item).save(f"{stem}.boxes.png")
        print(
            json.dumps(
                {
                    k: item.truth[k]
                    for k in ("doc_id", "type_name", "code_number", "code_notation", "profile")
                },
                ensure_ascii=False,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
