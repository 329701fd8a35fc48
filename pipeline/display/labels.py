"""Vietnamese names for the ledger's states, the steps (stages) of a run, and the web roles."""

from __future__ import annotations

STATE_LABELS = {
    "received": "đã nhận",
    "stored_raw": "đã lưu bản gốc, chờ xử lý",
    "processing": "đang xử lý",
    "archived": "đã lưu trữ",
    "indexed": "đã lưu trữ và lập chỉ mục",
    "failed": "lỗi",
    "rejected": "bị từ chối",
    "needs_dossier": "cần mã hồ sơ",
    "duplicate": "trùng lặp",
    # a batch's status (pipeline.storage.ledger.states.batch_status)
    "in_progress": "đang xử lý",
    "done": "hoàn tất",
    "empty": "trống",
}

# The stage an event or a failure is recorded under: the steps of a run
# (pipeline.flow.steps), and what custody, recovery, operators and rebuilds write.
STAGE_LABELS = {
    "batch": "tạo lô",
    "ingest": "tiếp nhận",
    "intake": "nhận bàn giao",
    "place": "vị trí trong hồ sơ",
    "start": "bắt đầu",
    "pages": "đọc trang",
    "ocr": "nhận dạng chữ",
    "worker-died": "máy xử lý trang",
    "split": "tách tài liệu",
    "dossier": "tìm mã hồ sơ",
    "fields": "đọc thông tin văn bản",
    "pdf": "tạo PDF/A",
    "sign": "ký số",
    "dedupe": "kiểm tra trùng",
    "archive": "lưu trữ",
    "storage": "kho lưu trữ",
    "index": "lập chỉ mục",
    "operator": "người vận hành",
    "recover": "khôi phục",
    "rebuild": "dựng lại sổ",
}

ROLE_LABELS = {"records": "tra cứu", "operator": "vận hành", "admin": "quản trị"}


def state_vi(state: str | None) -> str:
    """A state (or a batch status) in Vietnamese; an unknown code is shown as it is."""
    if not state:
        return "—"
    return STATE_LABELS.get(str(state), str(state))


def stage_vi(stage: str | None) -> str:
    if not stage:
        return "—"
    return STAGE_LABELS.get(str(stage), str(stage))


# Who did it, as the ledger records actors: a process by its job, a person by name.
_ACTOR_LABELS = {
    "worker": "máy xử lý",
    "watcher": "trạm nhận tệp",
    "recover": "khôi phục",
    "rebuild": "dựng lại sổ",
}


def actor_vi(actor: str | None) -> str:
    """``cli:lan`` → ``lan (dòng lệnh)``, ``web:lan`` → ``lan (trang web)``, ``worker`` → …"""
    if not actor:
        return "—"
    head, sep, name = str(actor).partition(":")
    if sep and head == "cli":
        return f"{name} (dòng lệnh)"
    if sep and head == "web":
        return f"{name} (trang web)"
    return _ACTOR_LABELS.get(str(actor), str(actor))
