"""What a person is told after queueing work: whether a worker will carry it out.

A retry, an assign or a re-run from the web (or an operator's CLI) is recorded in the
ledger; only a running worker (``sohoa worker``, or ``sohoa watch`` with the worker key
on one machine) does it. The heartbeats (:mod:`pipeline.storage.heartbeats`) say whether
one is running: the promise "within minutes" is made only when one is, otherwise the
person is told that nothing happens until one is started, and how.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

KIND_LABELS = {
    "worker": "sohoa worker",
    "watch": "sohoa watch",
}
START_HINT = (
    "khởi động máy xử lý: `sohoa worker` (văn phòng) hoặc `sohoa watch` với khóa worker (một máy)"
)

# What was queued: the first half of the notice.
QUEUED = {
    "retry": "Đã xếp lịch chạy lại",
    "assign": "Đã gán mã hồ sơ, chờ lưu trữ",
    "rerun": "Đã xếp lịch chạy lại tài liệu (bản mới sẽ thay bản hiện tại khi xong)",
}


def worker_name(beat: Any) -> str:
    """``máy <host> (sohoa worker)``."""
    return f"máy {beat.host} ({KIND_LABELS.get(beat.kind, beat.kind)})"


def queued_notice(action: str, live: Sequence[Any] | None) -> tuple[str, str]:
    """``(level, text)`` for the banner after ``action``: ``notice`` when a worker is
    running, ``warning`` when none is (or whether one is cannot be told)."""
    done = QUEUED[action]
    if live:
        names = ", ".join(worker_name(b) for b in live[:3])
        more = f" và {len(live) - 3} máy khác" if len(live) > 3 else ""
        return "notice", f"{done}; {names}{more} đang chạy và sẽ thực hiện trong ít phút."
    if live is None:
        return (
            "warning",
            f"{done}. Không kiểm tra được có máy xử lý nào đang chạy hay không: việc này chỉ"
            f" được thực hiện khi có máy xử lý chạy ({START_HINT}).",
        )
    return (
        "warning",
        f"{done}, nhưng hiện không có máy xử lý nào đang chạy: tài liệu sẽ chờ cho đến khi"
        f" {START_HINT}.",
    )
