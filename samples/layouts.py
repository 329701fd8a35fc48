"""Page layouts per Decree 30/2020/NĐ-CP: receipt, application, decision, letter, and a
document's later pages (a continuation without header, an annex "PHỤ LỤC").

``GeneratedPage.text`` is the NFC text of every drawn text line, in reading order
(two-column blocks: left column first), lines joined by ``"\\n"``. Seal text, the
signature scribble and the QR code are not text.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from PIL import Image

from pipeline.lang.textnorm import nfc
from samples.canvas import _TITLES, _Canvas, _Case, _case, _corpus, _date_line, _py_rng, stamp_seal

KINDS = ("receipt", "application", "decision", "letter")


DOSSIER_CODE_RE = re.compile(r"^[0-9A-Z]{1,3}(\.[0-9A-Z]{1,3}){0,4}-\d{6}-\d{4,7}$")


@dataclass
class GeneratedPage:
    """One rendered page and everything a test needs to score the pipeline on it."""

    image: Image.Image  # RGB
    dpi: int
    text: str  # ground truth, NFC, "\n" between lines
    dossier_code: str | None  # the code printed/encoded on this page, None if absent
    kind: str
    params: dict = field(default_factory=dict)  # damage applied, e.g. {"skew": 2.3}
    info: dict = field(default_factory=dict)  # layout facts (agency, body band, colours)


def _header(cv: _Canvas, case: _Case, y: int, number: str | None, date: dt.date) -> int:
    """Agency block (left) and national motto (right), then number and date lines."""
    superior, agency_lines = case.agency[0], case.agency[1]
    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    rx0, rx1 = cv.left + cv.mm(62), cv.right + cv.mm(4)
    ly = cv.put(superior, "regular", 12.5, lx0, lx1, y)
    for i, line in enumerate(agency_lines):
        last = i == len(agency_lines) - 1
        ly = cv.put(line, "bold", 12.5, lx0, lx1, ly, rule=0.4 if last else 0)
    ry = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 12.5, rx0, rx1, y)
    ry = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 13.5, rx0, rx1, ry, rule=1.0)
    row = max(ly, ry) + cv.mm(1)
    ly = cv.put(number, "regular", 13, lx0, lx1, row) if number else row
    ry = cv.put(_date_line(date), "italic", 13.5, rx0, rx1, row)
    return max(ly, ry)


def _signature(
    cv: _Canvas,
    y: int,
    x0: int,
    x1: int,
    lines: Sequence[tuple[str, str]],
    name: str,
    rng: random.Random,
) -> tuple[int, tuple[int, int]]:
    """Signature block: authority lines, a scribble, the name. Returns (y, scribble centre)."""
    for text, style in lines:
        y = cv.put(text, style, 13.5, x0, x1, y)
    centre = ((x0 + x1) // 2 + cv.mm(rng.uniform(-4, 4)), y + cv.mm(11))
    cv.scribble(*centre, rng)
    y = cv.put(name, "bold", 13.5, x0, x1, y + cv.mm(24))
    return y, centre


def _fill(cv: _Canvas, y: int, limit: int, rng: random.Random, count: int, **kw) -> int:
    """Draw up to ``count`` corpus paragraphs that fit above ``limit``."""
    paragraphs, _ = _corpus()
    drawn = tries = 0
    while drawn < count and tries < 40:
        tries += 1
        nxt = cv.paragraph(rng.choice(paragraphs), y, limit=limit, **kw)
        if nxt is not None:
            y, drawn = nxt, drawn + 1
    return y


def _receiving_block(cv: _Canvas, y: int, case: _Case, rng: random.Random) -> int:
    """Two signature columns: the applicant and the receiving clerk."""
    mid = (cv.left + cv.right) // 2
    ly, _ = _signature(
        cv,
        y,
        cv.left - cv.mm(10),
        mid,
        [("NGƯỜI NỘP HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        case.applicant,
        rng,
    )
    ry, _ = _signature(
        cv,
        y,
        mid,
        cv.right,
        [("NGƯỜI TIẾP NHẬN HỒ SƠ", "bold"), ("(Ký và ghi rõ họ tên)", "italic")],
        case.clerk,
        rng,
    )
    return max(ly, ry)


def _layout_receipt(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    code = case.code or ""
    if qr:
        cv.qr(code, cv.mm(5), cv.mm(6))
    hub = (("UBND TỈNH LÀO CAI", ("TRUNG TÂM PHỤC VỤ", "HÀNH CHÍNH CÔNG")),)
    receipt_case = replace(case, agency=hub[0])
    y = _header(cv, receipt_case, cv.mm(20), None, case.received)
    y += cv.mm(6)
    y = cv.put(_TITLES["receipt"], "bold", 14, cv.left, cv.right, y)
    y = cv.put(f"Mã hồ sơ: {code}", "bold", 13.5, cv.left, cv.right, y)
    body_top = y + cv.mm(3)
    procedure, _title, components = case.procedure[:3]
    y = cv.paragraph(
        f"Trung tâm Phục vụ hành chính công tỉnh Lào Cai tiếp nhận hồ sơ của: {case.applicant}",
        body_top,
        justify=False,
    )
    items = [
        f"Địa chỉ: {case.address}",
        f"Số điện thoại: {case.phone}",
        f"Nội dung yêu cầu giải quyết: {procedure}.",
        "1. Thành phần hồ sơ nộp gồm:",
        *(f"- {c}: 01 bản;" for c in components),
        "2. Số lượng hồ sơ: 01 (bộ).",
        f"3. Thời gian giải quyết hồ sơ theo quy định là: {rng.choice((5, 10, 15))} ngày làm việc.",
    ]
    hour, minute = rng.randrange(7, 16), rng.choice((0, 15, 20, 30, 45))
    due = case.received + dt.timedelta(days=rng.randrange(7, 21))
    items += [
        f"4. Thời gian nhận hồ sơ: {hour:02d} giờ {minute:02d} phút, "
        f"ngày {case.received:%d/%m/%Y}.",
        f"5. Thời gian trả kết quả giải quyết hồ sơ: {hour:02d} giờ {minute:02d} phút, "
        f"ngày {due:%d/%m/%Y}.",
        "6. Đăng ký nhận kết quả tại: Trung tâm Phục vụ hành chính công tỉnh Lào Cai.",
        f"Vào Sổ theo dõi hồ sơ, Quyển số: {rng.randrange(1, 12):02d}, "
        f"Số thứ tự: {rng.randrange(100, 9999)}.",
    ]
    for item in items:
        y = cv.paragraph(item, y, indent_mm=0, justify=False) or y
    body_bottom = y
    _receiving_block(cv, y + cv.mm(6), case, rng)
    return {"body": (body_top, body_bottom)}


def _layout_application(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    y = cv.mm(20)
    y = cv.put("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "bold", 13, cv.left, cv.right, y)
    y = cv.put("Độc lập - Tự do - Hạnh phúc", "bold", 14, cv.left, cv.right, y, rule=1.0)
    y += cv.mm(8)
    procedure, title = case.procedure[:2]
    y = cv.put(title, "bold", 14, cv.left, cv.right, y)
    y = cv.put(f"Kính gửi: {case.agency[4]} tỉnh Lào Cai", "regular", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(4)
    y = body_top
    for item in (
        "1. Thông tin về người đề nghị:",
        f"- Họ và tên: {case.applicant}",
        f"- Số định danh cá nhân: 0{rng.randrange(10**10, 10**11)}",
        f"- Địa chỉ liên hệ: {case.address}",
        f"- Số điện thoại: {case.phone}",
        f"2. Nội dung đề nghị: {procedure}.",
        "3. Lý do đề nghị:",
    ):
        y = cv.paragraph(item, y, indent_mm=0, justify=False) or y
    y = _fill(cv, y, cv.bottom - cv.mm(78), rng, 3)
    y = cv.paragraph(
        "4. Cam kết: Tôi xin cam đoan những nội dung trong đơn là đúng sự thật và hoàn toàn "
        "chịu trách nhiệm trước pháp luật.",
        y,
        indent_mm=0,
    )
    body_bottom = y
    x0 = (cv.left + cv.right) // 2 - cv.mm(10)
    y = cv.put(_date_line(case.received), "italic", 13.5, x0, cv.right + cv.mm(4), y + cv.mm(4))
    _signature(
        cv,
        y,
        x0,
        cv.right + cv.mm(4),
        [("NGƯỜI LÀM ĐƠN", "bold"), ("(Ký, ghi rõ họ tên)", "italic")],
        case.applicant,
        rng,
    )
    return {"body": (body_top, body_bottom)}


def _closing(
    cv: _Canvas, y: int, case: _Case, rng: random.Random, recipients: Sequence[str]
) -> tuple[int, int]:
    """The "Nơi nhận" list (left) and the KT. signature (right); return the scribble centre."""
    y += cv.mm(4)
    lx0, lx1 = cv.left, cv.left + cv.mm(70)
    ly = cv.put("Nơi nhận:", "bolditalic", 12, lx0, lx1, y, align="left", leading=1.2)
    for item in recipients:
        ly = cv.put(item, "regular", 11, lx0, lx1, ly, align="left", leading=1.2)
    head = case.agency[3]
    sx0, sx1 = cv.left + cv.mm(75), cv.right + cv.mm(4)
    _y, centre = _signature(
        cv, y, sx0, sx1, [(f"KT. {head}", "bold"), (f"PHÓ {head}", "bold")], case.signer, rng
    )
    return centre


def _layout_decision(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    _sup, _lines, abbr, head, agency_text, (dept, dept_abbr) = case.agency
    issued = case.received + dt.timedelta(days=rng.randrange(3, 15))
    number = f"Số: {rng.randrange(12, 990)}/QĐ-{abbr}"
    y = _header(cv, case, cv.mm(20), number, issued) + cv.mm(6)
    y = cv.put(_TITLES["decision"], "bold", 14, cv.left, cv.right, y)
    subject = f"Về việc giải quyết hồ sơ {case.procedure[0][0].lower()}{case.procedure[0][1:]}"
    for line in cv.wrap(subject, cv.font("bold", 14), cv.right - cv.left - cv.mm(20), 0):
        y = cv.put(" ".join(line), "bold", 14, cv.left, cv.right, y)
    y += cv.mm(1.5)
    cv.draw.line(
        [((cv.left + cv.right) / 2 - cv.mm(20), y), ((cv.left + cv.right) / 2 + cv.mm(20), y)],
        fill=cv.ink,
        width=cv.mm(0.3),
    )
    y += cv.mm(5)
    y = cv.put(f"{head} {agency_text.upper()}", "bold", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(2)
    y = body_top
    _, citations = _corpus()
    for citation in rng.sample(citations, 2):
        y = cv.paragraph(citation, y, style="italic")
    y = cv.paragraph(
        f"Căn cứ Quyết định số {rng.randrange(5, 60)}/2021/QĐ-UBND ngày "
        f"{rng.randrange(1, 28):02d} tháng {rng.randrange(3, 12)} năm 2021 của Ủy ban nhân "
        f"dân tỉnh Lào Cai quy định chức năng, nhiệm vụ, quyền hạn của {agency_text};",
        y,
        style="italic",
    )
    y = cv.paragraph(
        f"Xét hồ sơ đề nghị của ông (bà) {case.applicant} và đề nghị của Trưởng phòng {dept}.",
        y,
        style="italic",
    )
    y = cv.put("QUYẾT ĐỊNH:", "bold", 14, cv.left, cv.right, y + cv.mm(2)) + cv.mm(1)
    limit = cv.bottom - cv.mm(80)
    short = [p for p in _corpus()[0] if len(p) < 160]
    for n in (1, 2):
        # reserve room for the next article so "Điều 2" is never skipped
        room = limit - (cv.mm(14) if n == 1 else 0)
        for _ in range(20):
            nxt = cv.paragraph(f"Điều {n}. {rng.choice(short)}", y, limit=room)
            if nxt is not None:
                y = nxt
                break
    y = _fill(cv, y, limit, rng, rng.randrange(3))
    y = cv.paragraph(
        f"Điều 3. Quyết định này có hiệu lực kể từ ngày ký. Chánh Văn phòng, Trưởng phòng "
        f"{dept} và ông (bà) {case.applicant} chịu trách nhiệm thi hành Quyết định này./.",
        y,
    )
    body_bottom = y
    centre = _closing(cv, y, case, rng, ["- Như Điều 3;", f"- Lưu: VT, {dept_abbr}."])
    return {"body": (body_top, body_bottom), "signature": centre}


def _layout_letter(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    _sup, _lines, abbr, _head, agency_text, (dept, dept_abbr) = case.agency
    issued = case.received + dt.timedelta(days=rng.randrange(1, 10))
    number = f"Số: {rng.randrange(100, 4000)}/{abbr}-{dept_abbr}"
    y = _header(cv, case, cv.mm(20), number, issued)
    lx0, lx1 = cv.left - cv.mm(12), cv.left + cv.mm(68)
    subject = f"V/v hướng dẫn hoàn thiện hồ sơ của ông (bà) {case.applicant}"
    for line in cv.wrap(subject, cv.font("regular", 12), lx1 - lx0 - cv.mm(6), 0):
        y = cv.put(" ".join(line), "regular", 12, lx0, lx1, y, leading=1.2)
    y += cv.mm(6)
    y = cv.put(f"Kính gửi: Ông (bà) {case.applicant}", "regular", 14, cv.left, cv.right, y)
    body_top = y + cv.mm(3)
    y = cv.paragraph(
        f"{agency_text} nhận được hồ sơ {case.procedure[0][0].lower()}{case.procedure[0][1:]} "
        f"của ông (bà) {case.applicant}, địa chỉ: {case.address}. Sau khi xem xét, "
        f"{agency_text} có ý kiến như sau:",
        body_top,
    )
    y = _fill(cv, y, cv.bottom - cv.mm(66), rng, 6)
    y = cv.paragraph(
        f"Mọi vướng mắc đề nghị liên hệ phòng {dept}, số điện thoại {case.phone} để được "
        "hướng dẫn./.",
        y,
    )
    body_bottom = y
    centre = _closing(cv, y, case, rng, ["- Như trên;", f"- Lưu: VT, {dept_abbr}."])
    return {"body": (body_top, body_bottom), "signature": centre}


def _layout_continuation(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    """A decision's or letter's later page: its page number, body, then the signature.

    No header, no motto: what a document's second page looks like (Decree 30 numbers
    pages from the second one, at the top centre).
    """
    _sup, _lines, _abbr, _head, _agency_text, (dept, dept_abbr) = case.agency
    y = cv.put(str(rng.randrange(2, 4)), "regular", 13, cv.left, cv.right, cv.mm(10))
    body_top = y + cv.mm(4)
    y = _fill(cv, body_top, cv.bottom - cv.mm(80), rng, rng.randrange(3, 6))
    y = cv.paragraph(
        f"Điều {rng.randrange(3, 6)}. Chánh Văn phòng, Trưởng phòng {dept} và ông (bà) "
        f"{case.applicant} chịu trách nhiệm thi hành Quyết định này./.",
        y,
    )
    body_bottom = y
    centre = _closing(cv, y, case, rng, ["- Như trên;", f"- Lưu: VT, {dept_abbr}."])
    return {"body": (body_top, body_bottom), "signature": centre}


def _layout_annex(cv: _Canvas, case: _Case, rng: random.Random, qr: bool) -> dict:
    """An annex issued with a decision: "PHỤ LỤC" and "(Kèm theo Quyết định số …)", then a
    list; every other one repeats the organ's header and the motto above its title."""
    _sup, _lines, abbr, _head, agency_text, _dept = case.agency
    issued = case.received + dt.timedelta(days=rng.randrange(3, 15))
    y = cv.mm(20)
    if rng.random() < 0.5:
        y = _header(cv, case, y, None, issued) + cv.mm(4)
    y = cv.put("PHỤ LỤC", "bold", 14, cv.left, cv.right, y)
    title = f"DANH MỤC HỒ SƠ {case.procedure[0].upper()}"
    for line in cv.wrap(title, cv.font("bold", 13), cv.right - cv.left - cv.mm(20), 0):
        y = cv.put(" ".join(line), "bold", 13, cv.left, cv.right, y)
    y = cv.put(
        f"(Kèm theo Quyết định số {rng.randrange(12, 990)}/QĐ-{abbr} ngày "
        f"{issued:%d/%m/%Y} của {agency_text})",
        "italic",
        13,
        cv.left,
        cv.right,
        y,
    )
    body_top = y + cv.mm(4)
    y = body_top
    for n, item in enumerate(case.procedure[2], start=1):
        y = cv.paragraph(f"{n}. {item}: 01 bản.", y, indent_mm=0, justify=False) or y
    y = _fill(cv, y, cv.bottom - cv.mm(30), rng, rng.randrange(2, 4))
    return {"body": (body_top, y)}


_LAYOUTS: dict[str, Callable[[_Canvas, _Case, random.Random, bool], dict]] = {
    "receipt": _layout_receipt,
    "application": _layout_application,
    "decision": _layout_decision,
    "letter": _layout_letter,
    "continuation": _layout_continuation,
    "annex": _layout_annex,
}
# Every page kind render_page draws: a document's first pages (KINDS) and its later ones.
PAGE_KINDS = tuple(_LAYOUTS)


def _ring_text(case: _Case) -> str:
    superior = case.agency[0].replace("UBND", "ỦY BAN NHÂN DÂN")
    return f"{superior} • {' '.join(case.agency[1])}"


def render_page(
    kind: str,
    *,
    seed: int,
    dossier_code: str | None = None,
    dpi: int = 300,
    seal: bool = False,
    qr: bool | None = None,
) -> GeneratedPage:
    """Render one clean page of ``kind`` (see PAGE_KINDS).

    Pages sharing a ``dossier_code`` share applicant, agency, procedure and dates (taken
    from the code's YYMMDD); ``seed`` picks the page's own sentences and numbers. Only a
    receipt prints the code ("Mã hồ sơ:") and, by default, a QR code of it at top-left;
    a receipt without a code gets one derived from ``seed``.
    """
    if kind not in _LAYOUTS:
        raise ValueError(f"unknown page kind {kind!r}; expected one of {', '.join(PAGE_KINDS)}")
    if dossier_code is not None:
        dossier_code = nfc(dossier_code).strip().upper()
        if not DOSSIER_CODE_RE.match(dossier_code):
            raise ValueError(f"not a dossier code: {dossier_code!r}")
    qr = kind == "receipt" if qr is None else qr
    case = _case(dossier_code, seed)
    if case.code is None and (kind == "receipt" or qr):
        code_rng = _py_rng("code", seed)
        case.code = f"000.00.13.H38-{case.received:%y%m%d}-{code_rng.randrange(1, 9999):04d}"
    rng = _py_rng("page", kind, seed)
    shade = rng.randrange(242, 253)
    paper = (shade + 2, shade + 1, max(0, shade - rng.randrange(3, 9)))
    grey = rng.randrange(15, 50)
    cv = _Canvas(dpi, paper, (grey, grey, grey + 3))
    info = _LAYOUTS[kind](cv, case, rng, qr)
    image = cv.img
    if seal and "signature" in info:
        sx, sy = info["signature"]
        centre = (sx - cv.mm(rng.uniform(14, 20)), sy - cv.mm(rng.uniform(0, 6)))
        image = stamp_seal(image, centre, dpi, _ring_text(case), rng)
        info["seal"] = centre
    elif seal:
        image = stamp_seal(image, (cv.w // 2, cv.h * 2 // 3), dpi, _ring_text(case), rng)
    body = info["body"]
    info.update(
        body=(body[0] / cv.h, body[1] / cv.h),
        paper=paper,
        ink=cv.ink,
        ring_text=_ring_text(case),
    )
    on_page = case.code if (kind == "receipt" or qr) else None
    return GeneratedPage(image, dpi, "\n".join(cv.lines), on_page, kind, {}, info)
