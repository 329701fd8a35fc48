"""A ledger reason, written in English for logs and programs, rendered in Vietnamese.

Reasons are stored as the code wrote them (``processing started``, ``time budget of 1 s
used up with 0 of 3 pages done (run.max_document_seconds); the finished pages are
kept: sohoa retry resumes``) and translated when shown. A reason is a run of clauses
joined by ``"; "``; each clause is matched against :data:`PATTERNS`, in order, and
rendered with its Vietnamese template. A new message is one more line in that table;
``tests/test_display.py`` reads the source for every reason the code writes and fails
on one that no pattern covers.

In a template, ``{name}`` is the text the pattern's group caught, as it was (a key, a
file name, a number, a library's own error text); a group named ``…_msg`` is itself
a reason and is translated, ``…_state`` is a ledger state, ``…_time`` a stored time
shown in the office's clock. A clause no pattern knows is shown as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.display.labels import state_vi
from pipeline.display.times import local_time

# (pattern of one clause, its Vietnamese template), most specific first.
_TABLE: tuple[tuple[str, str], ...] = (
    # --- custody and the start of a run
    (r"batch from (?P<origin>.+)", "lô từ {origin}"),
    (r"file (?P<name>.+) \((?P<size>\S+) bytes\)", "tệp {name} ({size} byte)"),
    (r"raw copy verified at (?P<key>.+)", "đã lưu và kiểm tra bản gốc tại {key}"),
    (
        r"raw copy verified by MinIO at (?P<key>.+)",
        "MinIO đã kiểm tra và lưu bản gốc tại {key}",
    ),
    (
        r"handed over by (?P<who>.+) at (?P<at_time>.+) \(custody record (?P<key>.+)\)",
        "{who} bàn giao lúc {at_time} (biên bản tiếp nhận {key})",
    ),
    (r"custody record of (?P<n>\S+) bytes", "biên bản tiếp nhận dài {n} byte"),
    (r"custody record of an unknown format", "biên bản tiếp nhận không đúng định dạng"),
    (r"custody record is not JSON: (?P<why>.+)", "biên bản tiếp nhận không phải JSON: {why}"),
    (r"custody record: bad batch id", "biên bản tiếp nhận: mã lô sai"),
    (r"custody record: bad document id", "biên bản tiếp nhận: mã tài liệu sai"),
    (
        r"custody record: the raw key is not sha256/<its SHA-256>",
        "biên bản tiếp nhận: khóa bản gốc không phải sha256/<mã SHA-256 của nó>",
    ),
    (
        r"custody record: bad size or sequence number",
        "biên bản tiếp nhận: kích thước hoặc số thứ tự sai",
    ),
    (
        r"custody record: (?P<field>.+) is missing or not (?P<kind>.+)",
        "biên bản tiếp nhận: thiếu {field} hoặc không phải {kind}",
    ),
    (
        r"custody record: the name's bytes are not base64",
        "biên bản tiếp nhận: tên tệp dạng byte không phải base64",
    ),
    (
        r"custody record: its name and its document id differ",
        "biên bản tiếp nhận: tên biên bản và mã tài liệu không khớp",
    ),
    (r"custody record: (?P<field>.+) is too long", "biên bản tiếp nhận: {field} quá dài"),
    (
        r"custody record: the dossier code is not a valid code",
        "biên bản tiếp nhận: mã hồ sơ không hợp lệ",
    ),
    (r"custody record: (?P<why>.+)", "biên bản tiếp nhận: {why}"),
    (
        r"place in the dossier set by (?P<who>.+)",
        "{who} đặt vị trí của giấy tờ trong hồ sơ",
    ),
    (r"(?P<key>.+) has a new version", "{key} có phiên bản mới"),
    (
        r"the file changed while it was taken \((?P<change>.+)\)",
        "tệp thay đổi trong lúc tiếp nhận ({change})",
    ),
    (
        r"back in the inbox as (?P<name>.+), to be taken again as it is then"
        r" \(raw (?P<key>.+) keeps the earlier bytes\)",
        "đã trả lại thư mục nhận với tên {name} để tiếp nhận lại theo nội dung mới"
        " (bản gốc {key} giữ nội dung cũ)",
    ),
    (r"processing started", "bắt đầu xử lý"),
    (r"storage unreachable", "không kết nối được kho lưu trữ"),
    (r"broker unreachable", "không kết nối được hàng đợi công việc"),
    (r"stopped", "đã dừng"),
    (r"stopping: pages not finished are resumed", "đang dừng: các trang chưa xong sẽ làm tiếp"),
    (r"will resume \((?P<n>.+) pages finished\)", "sẽ làm tiếp ({n} trang đã xong)"),
    (r"will resume from its finished pages", "sẽ làm tiếp từ các trang đã xong"),
    (r"interrupted while processing", "bị gián đoạn khi đang xử lý"),
    (r"archive objects found after an interruption", "thấy bản lưu trữ sau khi bị gián đoạn"),
    (r"document has neither a spool copy nor a raw key", "tài liệu không có bản tạm lẫn bản gốc"),
    (r"source: not a SHA-256", "nguồn: không phải mã SHA-256"),
    (
        r"source (?P<key>.+): the cached copy keeps disappearing",
        "nguồn {key}: bản đệm liên tục bị mất",
    ),
    (r"raw copy (?P<key>.+) does not match its SHA-256", "bản gốc {key} không khớp mã SHA-256"),
    # --- the OCR model and the API's refusals
    (
        r"ocr\.model (?P<value>.+) is not auto, system or a \.traineddata file",
        "ocr.model {value} không phải auto, system hay một tệp .traineddata",
    ),
    (r"no bearer token", "thiếu mã truy cập (bearer token)"),
    (r"rate limit", "vượt giới hạn số lần gọi"),
    (r"needs scope (?P<scope>.+)", "cần quyền {scope}"),
    # --- operators
    (r"retry requested by (?P<who>.+)", "{who} yêu cầu chạy lại"),
    (r"a worker runs it", "máy xử lý sẽ chạy"),
    (r"a worker archives it", "máy xử lý sẽ lưu trữ"),
    (
        r"dossier code (?P<code>.+) assigned by (?P<who>.+)",
        "{who} gán mã hồ sơ {code}",
    ),
    (
        r"re-run requested by (?P<who>.+) after review \((?P<why_msg>.+)\)",
        "{who} yêu cầu chạy lại sau khi kiểm tra ({why_msg})",
    ),
    # --- reading the file
    (r"empty file \(0 bytes\)", "tệp rỗng (0 byte)"),
    (
        r"not a PDF, TIFF, JPEG or PNG file \(it starts with (?P<head>.*)\)",
        "không phải tệp PDF, TIFF, JPEG hay PNG (đầu tệp: {head})",
    ),
    (
        r"image too large to decode safely \((?P<err>.*)\)",
        "ảnh quá lớn, không giải mã an toàn được ({err})",
    ),
    (r"unreadable (?P<kind>\S+) image: (?P<err>.*)", "không đọc được ảnh {kind}: {err}"),
    (
        r"image of (?P<w>\S+)x(?P<h>\S+) pixels exceeds the limit of (?P<limit>\S+)"
        r"(?P<setting> \(ingest\.max_file_pixels\))?",
        "ảnh {w}×{h} điểm ảnh vượt giới hạn {limit}{setting}",
    ),
    (r"image file has (?P<n>.+) frames \(pages\)", "tệp ảnh có {n} khung (trang)"),
    (r"split it into smaller files", "hãy tách thành các tệp nhỏ hơn"),
    (r"limit (?P<n>.+) \((?P<setting>[a-z_]+\.[a-z_]+)\)", "giới hạn {n} ({setting})"),
    (
        r"PDF structure takes longer than (?P<s>\S+) s to read \(ingest\.pdf_timeout_seconds\)",
        "đọc cấu trúc PDF mất hơn {s} giây (ingest.pdf_timeout_seconds)",
    ),
    (
        r"PDF structure needs more than (?P<mb>\S+) MB to read \(ingest\.pdf_memory_mb\)",
        "đọc cấu trúc PDF cần hơn {mb} MB bộ nhớ (ingest.pdf_memory_mb)",
    ),
    (r"a scanned document needs a few MB", "một tài liệu quét chỉ cần vài MB"),
    (r"damaged or invalid PDF: (?P<err>.*)", "PDF hỏng hoặc không hợp lệ: {err}"),
    (r"PDF has (?P<n>.+) objects", "PDF có {n} đối tượng"),
    (
        r"PDF has no page tree \(/Root /Pages is missing\)",
        "PDF không có cây trang (thiếu /Root /Pages)",
    ),
    (
        r"PDF page tree is broken: it reaches object (?P<n>.+) twice \(a loop\)",
        "cây trang của PDF bị hỏng: gặp đối tượng {n} hai lần (vòng lặp)",
    ),
    (
        r"PDF page tree is nested more than (?P<n>.+) levels deep",
        "cây trang của PDF lồng sâu quá {n} mức",
    ),
    (r"a real document needs far fewer", "tài liệu thật cần ít hơn nhiều"),
    (
        r"PDF page tree has more entries than (?P<n>.+) pages need \(ingest\.max_pages\)",
        "cây trang của PDF có nhiều mục hơn mức {n} trang cần (ingest.max_pages)",
    ),
    (r"PDF has more than (?P<n>.+) pages", "PDF có hơn {n} trang"),
    (r"PDF has (?P<n>.+) pages", "PDF có {n} trang"),
    (r"PDF has no pages", "PDF không có trang nào"),
    (
        r"encrypted PDF that needs a password to open",
        "PDF được mã hóa, cần mật khẩu để mở",
    ),
    (r"ask for an unprotected copy", "hãy xin bản không đặt mật khẩu"),
    (
        r"page (?P<n>\S+) is (?P<w>\S+)x(?P<h>\S+) pixels: too small to hold anything to read",
        "trang {n} chỉ có {w}×{h} điểm ảnh: quá nhỏ để có nội dung",
    ),
    (r"page (?P<n>\S+) is missing \(file truncated\?\)", "thiếu trang {n} (tệp bị cắt cụt?)"),
    (
        r"page (?P<n>\S+) cannot be decoded \(truncated or corrupt\): (?P<err>.*)",
        "không giải mã được trang {n} (tệp cụt hoặc hỏng): {err}",
    ),
    (r"page 1 has no MediaBox", "trang 1 không có MediaBox"),
    (
        r"page 1 of (?P<name>.+) cannot be rendered to place the mark",
        "không dựng được ảnh trang 1 của {name} để đặt dấu chữ ký",
    ),
    (
        r"page (?P<n>\d+) \(confidence (?P<conf>[^,]+), invalid syllables (?P<share>[^)]+)\)",
        "trang {n} (độ tin cậy {conf}, âm tiết sai {share})",
    ),
    (r"cannot read page size: (?P<err>.*)", "không đọc được khổ trang: {err}"),
    (
        r"rendering takes longer than (?P<s>\S+) s \(ingest\.pdf_timeout_seconds\)",
        "dựng ảnh trang mất hơn {s} giây (ingest.pdf_timeout_seconds)",
    ),
    (
        r"rendering needs more than (?P<mb>\S+) MB \(ingest\.pdf_memory_mb\)",
        "dựng ảnh trang cần hơn {mb} MB bộ nhớ (ingest.pdf_memory_mb)",
    ),
    (r"poppler cannot render it: (?P<err>.*)", "poppler không dựng được ảnh trang: {err}"),
    (r"poppler rendered nothing usable: (?P<err>.*)", "poppler không dựng ra ảnh dùng được: {err}"),
    (
        r"its worker process died (?P<n>\S+) times \(out of memory\?\)",
        "tiến trình xử lý trang dừng đột ngột {n} lần (thiếu bộ nhớ?)",
    ),
    (r"worker error (?P<err>.*)", "máy xử lý báo lỗi {err}"),
    (
        r"no worker returned it within (?P<s>\S+) s \(broker\.result_timeout\)",
        "không máy xử lý nào trả kết quả trong {s} giây (broker.result_timeout)",
    ),
    (r"page (?P<n>\d+|\S+?): (?P<rest_msg>.+)", "trang {n}: {rest_msg}"),
    # --- reading the words
    (
        r"ocr\.engine is 'api' but tesserocr is not installed \(pip install tesserocr\)",
        "ocr.engine là 'api' nhưng chưa cài tesserocr (pip install tesserocr)",
    ),
    (
        r"Tesseract language data (?P<lang>.+) not found in any tessdata dir",
        "không tìm thấy dữ liệu ngôn ngữ {lang} của Tesseract trong thư mục tessdata nào",
    ),
    (
        r"Tesseract could not load language (?P<lang>\S+) from (?P<path>\S+): (?P<err>.*)",
        "Tesseract không nạp được ngôn ngữ {lang} từ {path}: {err}",
    ),
    (r"Tesseract timed out after (?P<s>\S+) s", "Tesseract chạy quá thời gian ({s} giây)"),
    (r"Tesseract failed: (?P<err>.*)", "Tesseract bị lỗi: {err}"),
    (
        r"time budget of (?P<s>\S+) s used up with (?P<done>\S+) of (?P<total>\S+) pages done"
        r" \(run\.max_document_seconds\)",
        "hết thời gian cho phép ({s} giây) khi mới xong {done}/{total} trang"
        " (run.max_document_seconds)",
    ),
    (
        r"the finished pages are kept: sohoa retry resumes",
        "các trang đã xong được giữ lại: lệnh sohoa retry sẽ làm tiếp",
    ),
    (r"low OCR quality: (?P<pages_msg>.+)", "chất lượng nhận dạng chữ thấp: {pages_msg}"),
    # --- splitting a stack, finding the dossier
    (
        r"only separator sheets, no content: (?P<n>\S+) page\(s\), each a cover sheet or its"
        r" blank back",
        "chỉ có tờ phân cách, không có nội dung: {n} trang, đều là tờ bìa hoặc mặt sau để trắng",
    ),
    (r"nothing to archive", "không có gì để lưu trữ"),
    (
        r"split into (?P<n>\S+) document\(s\) at separator pages: pages (?P<ranges>.+)",
        "tách thành {n} tài liệu theo tờ phân cách: trang {ranges}",
    ),
    (
        r"pages (?P<a>\S+)-(?P<b>\S+) of (?P<name>.+) \(document (?P<id>\S+)\),"
        r" document (?P<n>\S+) of its stack",
        "trang {a}–{b} của {name} (tài liệu {id}), tài liệu thứ {n} của tập quét",
    ),
    (
        r"no dossier code in folder name, file name, QR/barcode or 'Mã hồ sơ' text",
        "không tìm thấy mã hồ sơ ở tên thư mục, tên tệp, mã QR/mã vạch hay dòng «Mã hồ sơ»",
    ),
    (
        r"run: sohoa assign (?P<id>\S+) --dossier CODE",
        "cần gán mã hồ sơ (nút «Gán mã» hoặc lệnh sohoa assign {id} --dossier MÃ)",
    ),
    # --- duplicates
    (
        r"same file already archived as (?P<key>\S+) \(recorded in the archive: (?P<meta>.+)\)",
        "tệp này đã được lưu trữ là {key} (ghi trong kho: {meta})",
    ),
    (
        r"same file already archived as (?P<key>\S+) \(document (?P<id>[^)]+)\)",
        "tệp này đã được lưu trữ là {key} (tài liệu {id})",
    ),
    (
        r"same file already taken as document (?P<id>\S+) \((?P<was_state>[^)]+)\)",
        "tệp này đã được tiếp nhận là tài liệu {id} ({was_state})",
    ),
    (
        r"same file already (?P<was_state>\S+) as document (?P<id>\S+): (?P<why_msg>.+)",
        "tệp này trước đây là tài liệu {id} ({was_state}): {why_msg}",
    ),
    (r"the same stack also became (?P<keys>.+)", "cùng tập quét còn thành {keys}"),
    # --- archive, signature, index
    (r"archived as (?P<key>\S+)", "đã lưu trữ tại {key}"),
    (r"archived", "đã lưu trữ"),
    (
        r"not signed yet \((?P<why>.+)\): sohoa sign --pending signs it",
        "chưa ký số ({why}): lệnh sohoa sign --pending sẽ ký",
    ),
    (r"not signed: (?P<why>.+)", "chưa ký số: {why}"),
    (
        r"nothing was archived \(sign\.required is on\): sohoa retry finishes it once the signer"
        r" works",
        "chưa lưu trữ gì (sign.required đang bật): lệnh sohoa retry sẽ hoàn tất khi thiết bị ký"
        " hoạt động lại",
    ),
    (
        r"signed \((?P<level>[^)]+)\) after archiving by (?P<who>\S+) at (?P<at_time>\S+)",
        "đã ký số ({level}) sau khi lưu trữ, bởi {who} lúc {at_time}",
    ),
    (
        r"long-term signature renewed \((?P<level>[^,]+),"
        r" next renewal before (?P<when_time>[^)]+)\) by (?P<who>\S+) at (?P<at_time>\S+)",
        "đã gia hạn chữ ký số dài hạn ({level}, lần gia hạn sau trước {when_time}), bởi {who}"
        " lúc {at_time}",
    ),
    (r"(?P<key>\S+) has a new version", "{key} có phiên bản mới"),
    (
        r"(?P<key>\S+) does not match the SHA-256 its metadata records",
        "{key} không khớp mã SHA-256 ghi trong siêu dữ liệu",
    ),
    (
        r"(?P<key>\S+) does not match the signature its metadata records",
        "{key} không khớp chữ ký ghi trong siêu dữ liệu",
    ),
    (r"(?P<key>\S+) is missing from the archive", "{key} không có trong kho lưu trữ"),
    (r"not renewed", "chưa gia hạn"),
    (r"not signed", "chưa ký số"),
    (r"not uploaded", "chưa tải lên"),
    (
        r"the renewed copy does not verify \((?P<why>.+)\)",
        "bản đã gia hạn không qua kiểm tra chữ ký ({why})",
    ),
    (
        r"(?P<name>.+) does not carry exactly one agency signature to renew",
        "{name} không có đúng một chữ ký số của cơ quan để gia hạn",
    ),
    (
        r"(?P<name>.+) cannot be signed: not a readable PDF \((?P<err>.*)\)",
        "không ký được {name}: không đọc được PDF ({err})",
    ),
    (r"(?P<name>.+) is encrypted", "{name} bị mã hóa"),
    (r"page text indexed", "đã lập chỉ mục nội dung trang"),
    (r"indexing failed: (?P<err>.*)", "lập chỉ mục bị lỗi: {err}"),
    (r"re-indexing failed: (?P<err>.*)", "lập chỉ mục lại bị lỗi: {err}"),
    # --- storage
    (
        r"(?P<key>\S+): (?P<size>\S+) bytes is more than one verified upload can carry",
        "{key}: {size} byte vượt quá dung lượng một lần tải lên có kiểm tra",
    ),
    (
        r"(?P<key>\S+): MinIO did not confirm SHA-256 (?P<sha>\S+)",
        "{key}: MinIO không xác nhận mã SHA-256 {sha}",
    ),
    (
        r"treat the upload as unverified \(does this server check x-amz-checksum-sha256\?\)",
        "coi bản tải lên là chưa được kiểm tra (máy chủ có kiểm tra x-amz-checksum-sha256 không?)",
    ),
    (
        r"(?P<key>\S+): MinIO refused the upload because the bytes it received do not hash to"
        r" SHA-256 (?P<sha>\S+) \((?P<code>[^)]+)\)",
        "{key}: MinIO từ chối bản tải lên vì dữ liệu nhận được không khớp mã SHA-256 {sha}"
        " ({code})",
    ),
    (r"nothing was stored", "không có gì được lưu"),
    (
        r"(?P<key>\S+): stored SHA-256 (?P<stored>\S+) != source (?P<source>\S+)",
        "{key}: mã SHA-256 đã lưu {stored} khác bản nguồn {source}",
    ),
    (r"no connection within the time allowed", "không kết nối được trong thời gian cho phép"),
    # --- rebuilding the ledger
    (r"rebuilt from archive/(?P<key>.+)", "dựng lại từ bản lưu trữ archive/{key}"),
    (
        r"ledger rebuilt: the original is in the raw bucket but nothing was archived from it"
        r" \(rejected, waiting for a dossier code, or in work when the ledger was lost\)",
        "sổ theo dõi được dựng lại: bản gốc có trong kho nhưng chưa có bản lưu trữ nào"
        " (bị từ chối, chờ mã hồ sơ, hoặc đang xử lý khi mất sổ)",
    ),
    (r"sohoa retry --failed runs it again", "lệnh sohoa retry --failed sẽ chạy lại"),
    # --- what the inbox watcher leaves alone
    (r"hidden name \(starts with '\.'\)", "tên ẩn (bắt đầu bằng dấu chấm)"),
    (
        r"temporary name \(an unfinished copy or an editor's lock file\)",
        "tên tạm (bản sao chưa xong hoặc tệp khóa của trình soạn thảo)",
    ),
    (
        r"not one of the accepted types \((?P<types>.+)\)",
        "không thuộc loại tệp được nhận ({types})",
    ),
    (r"not a regular file", "không phải tệp thông thường"),
    (r"FIFO \(named pipe\): never read", "FIFO (ống có tên): không đọc"),
    (r"socket: never read", "socket: không đọc"),
    (r"device node: never read", "tệp thiết bị: không đọc"),
    (
        r"has (?P<n>\S+) hard links: the same bytes have another name, perhaps outside the inbox,"
        r" so they are not taken",
        "có {n} liên kết cứng: cùng dữ liệu còn mang tên khác, có thể ở ngoài thư mục nhận,"
        " nên không tiếp nhận",
    ),
    (r"copy the file in instead of linking it", "hãy sao chép tệp vào thay vì tạo liên kết"),
    # --- a bug: the exception's class and message, as the runner records it
    (
        r"(?P<cls>[A-Z][A-Za-z]*(?:Error|Exception)): (?P<err>.*)",
        "lỗi ngoài dự kiến ({cls}: {err})",
    ),
)

PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), template) for pattern, template in _TABLE
)
_CONVERT: dict[str, Callable[[str], str]] = {
    "_msg": lambda text: reason_vi(text),
    "_state": state_vi,
    "_time": lambda text: local_time(text),
}


def _render(match: re.Match[str], template: str) -> str:
    values = {}
    for name, value in match.groupdict().items():
        text = value or ""
        for suffix, convert in _CONVERT.items():
            if name.endswith(suffix) and text:
                text = convert(text)
        values[name] = text
    return template.format(**values)


def _clause(text: str) -> str | None:
    for pattern, template in PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return _render(found, template)
    return None


def _clauses(reason: str) -> list[str]:
    return [c for c in reason.split("; ") if c.strip()]


def reason_vi(reason: str | None) -> str:
    """The reason in Vietnamese; a clause no pattern knows stays as it was written.

    Clause by clause first (a pattern's ``.+`` could otherwise swallow the clauses after
    it); the whole text only when some clause is unknown on its own (a library's message
    inside a reason may hold a "; " of its own).
    """
    if not reason:
        return ""
    text = str(reason).strip()
    parts = [(c, _clause(c)) for c in _clauses(text)]
    if all(shown is not None for _, shown in parts):
        return "; ".join(shown for _, shown in parts if shown is not None)
    whole = _clause(text)
    if whole is not None:
        return whole
    return "; ".join(shown or c for c, shown in parts)


def untranslated(reason: str, known: str = "") -> list[str]:
    """The clauses of ``reason`` that no pattern covers (``known`` ones aside): for tests."""
    missing = [c for c in _clauses(reason.strip()) if c != known and _clause(c) is None]
    if missing and _clause(reason.strip()) is not None:
        return []
    return missing
