"""Vietnamese for people: every state, stage and reason the code writes has a rendering,
and stored UTC times are shown in the office's clock (issue 24, Build 3).

The reasons and stages are collected from the source (:mod:`tests.support.reasons`), so
a message added later without a line in :mod:`pipeline.display.reasons` fails here.
"""

from __future__ import annotations

import re

import pytest

from pipeline.display import (
    STAGE_LABELS,
    STATE_LABELS,
    actor_vi,
    iso_local,
    local_date,
    local_time,
    parse_vn_date,
    reason_vi,
    stage_vi,
    state_vi,
    untranslated,
)
from pipeline.errors import QueryError
from pipeline.storage.ledger.states import STATES, batch_status
from tests.support.reasons import SAMPLE, written

# Words of the English reasons that must not survive translation (a fixed part of a
# template left in English); names, keys and library messages inside a reason may stay.
_ENGLISH = re.compile(
    r"\b(the|was|were|with|from|after|before|will|could|cannot|already|file|page|pages"
    r"|document|started|indexed|archived|requested|failed|resume|budget)\b"
)


def test_every_state_and_batch_status_has_a_label() -> None:
    statuses = {batch_status({s: 1}) for s in STATES} | {batch_status({})}
    for state in (*STATES, *statuses):
        assert state in STATE_LABELS, state
        assert state_vi(state) != state


def test_every_stage_the_code_writes_has_a_label() -> None:
    stages = written("stage")
    # the steps' @stage names, the error classes' stages, custody's and the ledgers' own
    assert {"ingest", "start", "pages", "sign", "index", "batch", "operator"} <= {
        s.text for s in stages
    }
    missing = [f"{s.text} ({s.where})" for s in stages if s.text not in STAGE_LABELS]
    assert not missing, f"stages without a Vietnamese name: {missing}"


def test_every_reason_the_code_writes_has_a_vietnamese_rendering() -> None:
    reasons = written("reason")
    assert len(reasons) > 60  # the collector found the runner's, custody's, readers' messages
    texts = {r.text for r in reasons}
    assert "processing started" in texts and "page text indexed" in texts
    missing = [
        f"{r.text!r} ({r.where}): {untranslated(r.text, SAMPLE)}"
        for r in reasons
        if untranslated(r.text, SAMPLE)
    ]
    assert not missing, "reasons without a pattern in pipeline/display/reasons.py:\n" + "\n".join(
        missing
    )
    for r in reasons:
        shown = reason_vi(r.text)
        typed = re.sub(r"sohoa [a-z -]+|[a-z_]+\.[a-z_]+", "", shown)  # commands, settings
        leftover = _ENGLISH.findall(typed.replace(SAMPLE, ""))
        assert not leftover, f"{r.text!r} → {shown!r} keeps English {leftover}"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("processing started", "bắt đầu xử lý"),
        ("page text indexed", "đã lập chỉ mục nội dung trang"),
        (
            "time budget of 1 s used up with 0 of 3 pages done (run.max_document_seconds);"
            " the finished pages are kept: sohoa retry resumes",
            "hết thời gian cho phép (1 giây) khi mới xong 0/3 trang (run.max_document_seconds);"
            " các trang đã xong được giữ lại: lệnh sohoa retry sẽ làm tiếp",
        ),
        (
            "storage unreachable; will resume (3 pages finished)",
            "không kết nối được kho lưu trữ; sẽ làm tiếp (3 trang đã xong)",
        ),
        (
            "same file already rejected as document d1: empty file (0 bytes)",
            "tệp này trước đây là tài liệu d1 (bị từ chối): tệp rỗng (0 byte)",
        ),
        (
            "low OCR quality: page 3 (confidence 41.2, invalid syllables 12%);"
            " page 5 (confidence 30, invalid syllables 40%)",
            "chất lượng nhận dạng chữ thấp: trang 3 (độ tin cậy 41.2, âm tiết sai 12%);"
            " trang 5 (độ tin cậy 30, âm tiết sai 40%)",
        ),
        (
            "signed (PAdES-B-T) after archiving by cli:lan at 2026-12-07T16:22:47+00:00;"
            " archive/x.pdf has a new version",
            "đã ký số (PAdES-B-T) sau khi lưu trữ, bởi cli:lan lúc 07/12/2026 23:22;"
            " archive/x.pdf có phiên bản mới",
        ),
    ],
)
def test_reasons_read_in_vietnamese(stored: str, shown: str) -> None:
    assert reason_vi(stored) == shown


def test_an_unknown_clause_is_shown_as_written() -> None:
    assert reason_vi("archived; something new happened") == "đã lưu trữ; something new happened"
    assert untranslated("archived; something new happened") == ["something new happened"]
    assert reason_vi(None) == "" and reason_vi("") == ""


def test_stage_and_actor_names() -> None:
    assert stage_vi("ingest") == "tiếp nhận" and stage_vi("pages") == "đọc trang"
    assert stage_vi(None) == "—"
    assert actor_vi("cli:lan") == "lan (dòng lệnh)" and actor_vi("web:hoa") == "hoa (trang web)"
    assert actor_vi("worker") == "máy xử lý"


def test_times_are_shown_in_the_office_clock() -> None:
    assert local_time("2026-12-07T16:22:47+00:00") == "07/12/2026 23:22"
    assert local_time("2026-12-31T20:00:00+00:00") == "01/01/2027 03:00"  # the next day there
    assert local_time("2026-12-07T16:22:47") == "07/12/2026 23:22"  # bare: stored UTC
    assert local_time(None) == "—" and local_time("soon") == "soon"
    assert iso_local("2026-12-07T16:22:47+00:00") == "2026-12-07T23:22:47+07:00"
    assert local_date("2026-11-20") == "20/11/2026"
    assert local_date("2026-12-31T20:00:00+00:00") == "01/01/2027"


def test_dates_are_typed_day_first() -> None:
    assert parse_vn_date("20/11/2026") == "2026-11-20"
    assert parse_vn_date("3/2/2026") == "2026-02-03"
    assert parse_vn_date("2026-11-20") == "2026-11-20"  # a pasted ISO date is fine too
    assert parse_vn_date("  ") is None
    for bad in ("11/20/2026", "31/02/2026", "20.11.2026", "hôm qua"):
        with pytest.raises(QueryError, match="dd/mm/yyyy"):
            parse_vn_date(bad)
