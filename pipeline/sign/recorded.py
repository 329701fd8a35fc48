"""An archived copy judged against the signature its metadata records.

Why: a copy's metadata says it was signed (signer, serial, time, the signature's own
SHA-256). Cutting the file back to its first revision removes the signature without
breaking anything a file-only check sees: the result is a plain, unsigned PDF. Swapping
in another signed file does the same with a valid signature of someone else. Wherever
sohoa shows an archived copy's signature (``sohoa verify KEY``, ``sohoa show``, the web
badge) the file is therefore held to its record: a recorded signature that is missing
or different makes the copy invalid, with the reason, never "not signed".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pipeline.sign.records import Verdict


def against_record(verdict: Verdict, recorded: Mapping[str, Any] | None) -> Verdict:
    """``verdict`` on an archived file, corrected by the metadata's ``signature`` object."""
    if not recorded:
        return verdict
    serial, when = recorded.get("serial"), recorded.get("time")
    said = f"serial {serial}, {when}" if serial else "a signature"
    if verdict.unsigned:
        return dataclasses.replace(
            verdict,
            valid=False,
            code="stripped",
            reason_vi=(
                f"Siêu dữ liệu ghi nhận tài liệu đã được ký số ({said}) nhưng tệp không còn "
                "chữ ký: chữ ký đã bị gỡ bỏ"
            ),
            reason_en=(
                f"The metadata records a signature ({said}) but the file carries none: "
                "the signature was removed"
            ),
        )
    value = recorded.get("value_sha256")
    if value and verdict.value_sha256 and value != verdict.value_sha256:
        differs = True
    else:  # records made before the signature's own digest was kept
        differs = bool(serial and verdict.serial and serial != verdict.serial) or bool(
            when and verdict.signed_at and when != verdict.signed_at
        )
    if differs and verdict.valid:  # an invalid verdict already says what is wrong
        return dataclasses.replace(
            verdict,
            valid=False,
            code="other-signature",
            reason_vi=(f"Chữ ký số trong tệp không phải chữ ký mà siêu dữ liệu ghi nhận ({said})"),
            reason_en=(
                f"The file carries another signature than the one its metadata records ({said})"
            ),
        )
    return verdict
