"""The columns of every CLI listing: the machine name (TSV header, JSON field) and what a
person at a terminal reads (a Vietnamese header, states, reasons and times in words).

The machine names are the interface other programs read: they do not change. The
README's CLI section lists them.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.display import (
    ROLE_LABELS,
    actor_vi,
    local_time,
    reason_vi,
    state_vi,
)
from workers.cli.output import Column


def _named_reasons(items: Any) -> str:
    """``["file.pdf: damaged or invalid PDF: …"]`` → one line per file, reason in Vietnamese."""
    lines = []
    for item in items or ():
        name, sep, reason = str(item).partition(": ")
        lines.append(f"{name}: {reason_vi(reason)}" if sep else reason_vi(name))
    return "\n".join(lines) or "—"


def _counts(counts: Any) -> str:
    if not counts:
        return "—"
    return ", ".join(f"{state_vi(k)}: {v}" for k, v in sorted(dict(counts).items()))


def _plain_list(items: Any) -> str:
    return ", ".join(str(i) for i in items or ()) or "—"


def _role(role: Any) -> str:
    return ROLE_LABELS.get(str(role), str(role)) if role else "—"


def _details(details: Any) -> str:
    if not details:
        return "—"
    if isinstance(details, str):
        return details
    return json.dumps(details, ensure_ascii=False, sort_keys=True)


def _time(value: Any) -> str:
    return local_time(value)


def _reason(value: Any) -> str:
    return reason_vi(value) or "—"


BATCH_TABLE = (
    Column("batch_id", "Lô", width=18),
    Column("station", "Trạm quét", width=10),
    Column("created_at", "Nhận lúc", _time, width=16),
    Column("documents", "Số TL", width=5),
    Column("status", "Trạng thái", state_vi, width=12),
    Column("states", "Theo trạng thái", _counts, width=20),
    Column("workers", "Máy xử lý", _plain_list, width=10),
    Column("reasons", "Lý do", _named_reasons, width=30),
    Column("review", "Cần kiểm tra", _named_reasons, width=20),
    Column("signatures", "Chữ ký số", _counts, width=10),
)

DOC_TABLE = (
    Column("source", "Tệp", width=24),
    Column("document_id", "Tài liệu", width=18),
    Column("batch_id", "Lô", width=18, human=False),
    Column("dossier_code", "Mã hồ sơ", width=26),
    Column("status", "Trạng thái", state_vi, width=12),
    Column("pages", "Trang", width=5),
    Column("pdf_key", "PDF", width=30),
    Column("metadata_key", "Siêu dữ liệu", human=False),
    Column("text_key", "Văn bản", human=False),
    Column("error", "Lý do", _reason, width=30),
)

REVIEW_TABLE = (
    Column("document_id", "Tài liệu", width=18),
    Column("dossier_code", "Mã hồ sơ", width=26),
    Column("pdf_key", "PDF", width=30),
    Column("source_name", "Tệp", width=20),
    Column("review", "Cần kiểm tra", _reason, width=30),
)

USER_TABLE = (
    Column("name", "Tên", width=14),
    Column("role", "Vai trò", _role, width=10),
    Column("disabled", "Đã khóa", width=7),
    Column("created_at", "Tạo lúc", _time, width=16),
    Column("updated_at", "Sửa lúc", _time, width=16),
    Column("last_login_at", "Đăng nhập lần cuối", _time, width=16),
)

AUDIT_TABLE = (
    Column("id", "Số", width=6),
    Column("at", "Lúc", _time, width=16),
    Column("actor", "Người làm", actor_vi, width=16),
    Column("action", "Việc", width=14),
    Column("object", "Đối tượng", width=24),
    Column("dossier", "Hồ sơ", width=16),
    Column("client", "Từ máy", width=12),
    Column("details", "Chi tiết", _details, width=30),
)

SEARCH_TABLE = (
    Column("dossier_code", "Mã hồ sơ"),
    Column("document_id", "Tài liệu"),
    Column("page", "Trang"),
    Column("snippet", "Đoạn khớp"),
    Column("score", "Điểm"),
    Column("pdf_key", "PDF"),
    Column("url", "Liên kết"),
    Column("type_name", "Loại văn bản"),
    Column("number", "Số"),
    Column("issued_date", "Ngày ban hành"),
    Column("subject", "Trích yếu"),
)

# One-record outputs (reindex, ledger rebuild, cover-sheet): the field's Vietnamese name.
RESULT_TITLES = {
    "documents": "Số tài liệu",
    "index": "Chỉ mục",
    "archived": "Đã lưu trữ",
    "originals_without_archive": "Bản gốc chưa lưu trữ",
    "already_known": "Đã có trong sổ",
    "ledger": "Sổ theo dõi",
    "file": "Tệp",
    "dossier_code": "Mã hồ sơ",
    "type": "Loại văn bản",
}


def result_columns(record: dict[str, Any]) -> list[Column]:
    return [Column(k, RESULT_TITLES.get(k, k)) for k in record]
