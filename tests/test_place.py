"""The document's place in its dossier (issue 21, build 1): component code, submitted or
result, procedure code, from a cover sheet's QR, a folder below the dossier folder, a
station's custody record, or an operator; into the ledger, the metadata JSON, the index
(a filter on both backends), and back from the archive by reindex and ledger rebuild.

The end-to-end part is real: cover sheets rendered and read back by zxing-cpp, pages read
by Tesseract, MinIO, the CLI in subprocesses, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import SplitConfig, load_config
from pipeline.dossier.cover import cover_payload, render_cover
from pipeline.dossier.place import (
    ASSIGNED,
    COVER,
    FOLDER,
    UPLOAD,
    Place,
    amended,
    effective_place,
    folder_component,
    valid_component,
    valid_kind,
    valid_procedure,
)
from pipeline.dossier.qr import decode_codes
from pipeline.dossier.split import CoverPayload, parse_cover, plan_split, segment_from_info
from pipeline.errors import RejectedInput, UsageError
from pipeline.flow.intake import CustodyRecord
from tests.support import stacks
from tests.support.backends import BACKENDS, backend_env
from tests.support.cli import json_lines, sohoa
from tests.support.files import small_page
from tests.test_split import page
from workers.watcher import locate

CODE = "000.00.13.H38-261127-0401"
CODE_B = "000.00.13.H38-261127-0402"


# ------------------------------------------------------------------- the codes themselves


def test_component_kind_and_procedure_are_held_to_a_safe_charset():
    assert valid_component("  TP_01.a-2 ") == "TP_01.a-2"
    assert valid_procedure("1.001234") == "1.001234"
    assert valid_kind(" Result ") == "result"
    for bad in ("", "TP 01", "TP/01", "..", "TP|1", "Tờ_khai", "a" * 65, "TP\n1", "ＴＰ１"):
        with pytest.raises(UsageError):
            valid_component(bad)
    with pytest.raises(UsageError):
        valid_kind("ketqua")
    assert folder_component("scans (copy)") is None and folder_component("TP1") == "TP1"


def test_where_a_place_comes_from_decides_which_wins():
    folder = Place("TP1", "submitted", "1.001", FOLDER)
    cover = Place("KQ1", "result", None, COVER)
    assert effective_place(folder, None) == folder
    assert effective_place(folder, cover) == Place("KQ1", "result", "1.001", COVER)
    assert effective_place(folder, Place(None, "result", None, COVER)) == Place(
        "TP1", "result", "1.001", COVER
    )
    # a component on the cover without a kind is a submitted paper, not the file's kind
    assert effective_place(Place("TP1", "result", None, UPLOAD), Place("TP2", source=COVER)) == (
        Place("TP2", "submitted", None, COVER)
    )
    assigned = Place("TP9", "result", None, ASSIGNED)
    assert effective_place(assigned, cover) == assigned  # an operator's decision stands
    assert effective_place(Place(), None) == Place()  # nothing said: nothing invented
    assert amended(Place("TP1", "result", "P", FOLDER), None, None, "P2") == Place(
        "TP1", "result", "P2", ASSIGNED
    )
    assert amended(Place(), "TP3", None, None) == Place("TP3", "submitted", None, ASSIGNED)


# ------------------------------------------------------------------------- the cover sheet


def test_the_cover_qr_carries_the_place_and_old_sheets_still_read():
    old = parse_cover(f"SOHOA-COVER|{CODE}|Tờ khai")
    assert old == CoverPayload(CODE, "Tờ khai", None)
    assert parse_cover(f"SOHOA-COVER|{CODE}") == CoverPayload(CODE)
    new = cover_payload(CODE, component="TP_01", kind="result", procedure="1.001")
    text = new.text()
    assert text == f"SOHOA-COVER|{CODE}||c=TP_01|k=result|p=1.001"
    # what a reader of the old format takes from it: the code, and no type
    parts = text.split("|")
    assert (parts[1], parts[2].strip() or None) == (CODE, None)
    assert parse_cover(text) == new
    typed = cover_payload(CODE, "Giấy phép", component="KQ")
    assert typed.text().split("|")[:3] == ["SOHOA-COVER", CODE, "Giấy phép"]
    assert parse_cover(typed.text()).place == Place("KQ", "submitted", None, COVER)
    # a hand-made sheet with a bad part: the code still counts, the place does not
    bad = parse_cover(f"SOHOA-COVER|{CODE}|x|c=TP 01|k=result|zz=new")
    assert bad is not None and bad.code == CODE and bad.place is None
    with pytest.raises(UsageError):
        cover_payload(CODE, component="TP/1")


def test_a_printed_cover_is_read_back_with_its_place_and_splits_the_stack():
    """The sheet rendered at 300 dpi, scanned at 150 and photocopied: zxing-cpp reads its
    QR, the split gives the next document the place, and the ledger's JSON keeps it."""
    sheet = stacks.damaged(
        render_cover(CODE, component="TP_02", kind="result", procedure="2.000123").reduce(2),
        "photocopy+skew",
    )
    codes = decode_codes(np.asarray(sheet), dpi=150)
    assert codes == [f"SOHOA-COVER|{CODE}||c=TP_02|k=result|p=2.000123"]

    plan = plan_split([page(0, (), 80), page(1, codes, 12), page(2, (), 90)], SplitConfig())
    second = plan.segments[1]
    assert second.cover_place == Place("TP_02", "result", "2.000123", COVER)
    again = segment_from_info(second.first + 1, second.last + 1, second.info_json())
    assert again.cover_place == second.cover_place
    assert plan.segments[0].cover_place is None
    assert "cover_place" not in json.loads(plan.segments[0].info_json())


# ------------------------------------------------------------- folders and custody records


def test_the_folder_below_the_dossier_folder_is_the_component(tmp_path: Path):
    inbox = tmp_path / "inbox"
    where = locate(inbox, inbox / "motcua-01" / CODE / "TP_03" / "scan.pdf")
    assert (where.station, where.folder, where.component) == ("motcua-01", CODE, "TP_03")
    assert where.place == Place("TP_03", "submitted", None, FOLDER)
    deep = locate(inbox, inbox / "motcua-01" / CODE / "TP_03" / "2026" / "scan.pdf")
    assert deep.folder == CODE and deep.component == "TP_03"
    plain = locate(inbox, inbox / "motcua-01" / CODE / "scan.pdf")
    assert (plain.folder, plain.component, plain.place) == (CODE, None, None)
    odd = locate(inbox, inbox / "motcua-01" / CODE / "bản chụp" / "scan.pdf")
    assert odd.component is None  # not a code: just a folder
    loose = locate(inbox, inbox / "motcua-01" / "misc" / "scan.pdf")
    assert (loose.folder, loose.component) == ("misc", None)


def _record(**extra: object) -> bytes:
    base = {
        "format": 1,
        "batch_id": "b0123456789a",
        "document_id": "d0123456789a",
        "seq": 1,
        "station": "motcua-01",
        "origin": "motcua-01/x.pdf",
        "folder_name": None,
        "source_path": "motcua-01/x.pdf",
        "source_name": "x.pdf",
        "source_name_base64": "eC5wZGY=",
        "size": 3,
        "sha256": "a" * 64,
        "raw_key": "sha256/" + "a" * 64,
        "raw_version": None,
        "taken_at": "2026-11-27T01:00:00+00:00",
        "actor": "station:pc:clerk",
    }
    return json.dumps({**base, **extra}).encode()


def test_custody_records_carry_the_place_and_older_ones_still_read():
    old = CustodyRecord.from_json(_record())
    assert old.place.empty and old.place.fields()["place_source"] is None
    assert old.explicit_code is None
    rec = CustodyRecord.from_json(
        _record(component_code="TP_04", kind="result", explicit_code=CODE.lower())
    )
    assert rec.place == Place("TP_04", "result", None, UPLOAD)
    from pipeline.flow.intake import as_document

    doc = as_document(rec, "intake/2026-11-27/010000000000-d0123456789a.json")
    assert (doc.component_code, doc.kind, doc.place_source) == ("TP_04", "result", UPLOAD)
    assert doc.dossier_hint == CODE
    for bad in ({"component_code": "TP/4"}, {"kind": "maybe"}, {"explicit_code": "nope"}):
        with pytest.raises(RejectedInput):
            CustodyRecord.from_json(_record(**bad))


def test_a_station_hands_over_the_place_and_the_intake_records_it(cfg, tmp_path):
    from pipeline.flow import custody, intake
    from pipeline.flow.context import Services
    from pipeline.storage.ledger import SqliteLedger
    from pipeline.storage.objects import connect

    objects = connect(cfg)
    objects.ensure_buckets()
    src = small_page(3, tmp_path / "inbox" / "motcua-01" / CODE / "TP_05" / "x.png")
    with pytest.raises(UsageError):
        custody.hand_over(
            objects, src, batch_id="b00000000001", doc_id="d00000000001", seq=1,
            station="motcua-01", origin="o", folder_name=CODE, actor="station:t:t",
            component_code="TP 5",
        )  # fmt: skip
    assert src.exists()  # refused before anything was stored
    record, _ = custody.hand_over(
        objects, src, batch_id="b00000000001", doc_id="d00000000001", seq=1,
        station="motcua-01", origin="o", folder_name=CODE, actor="station:t:t",
        component_code="TP_05", kind="submitted", procedure_code="1.0005",
    )  # fmt: skip
    assert (record.component_code, record.kind, record.procedure_code) == (
        "TP_05",
        "submitted",
        "1.0005",
    )
    ledger = SqliteLedger(cfg.ledger_path)
    services = Services(cfg, ledger, objects, None, None)  # type: ignore[arg-type]
    (doc,) = intake.take_in(
        services, intake.Cursor(0), actor="intake", owner=None, lease_until=None, log=print
    )
    got = ledger.get_document(doc.id)
    assert (got.component_code, got.kind, got.procedure_code, got.place_source) == (
        "TP_05",
        "submitted",
        "1.0005",
        FOLDER,
    )
    ledger.close()


# ------------------------------------------------------------------------ end to end


def _cli(env: dict[str, str], *args: str) -> list[dict]:
    run = sohoa(env, "--json", *args)
    assert run.returncode == 0, (args, run.stdout, run.stderr[-3000:])
    return json_lines(run.stdout)


def _meta(env: dict[str, str], key: str) -> dict:
    from pipeline.storage.objects import connect

    objects = connect(load_config(env=env))
    return json.loads(objects.get_bytes(objects.archive_bucket, key))


def _found(env: dict[str, str], *filters: str) -> set[str]:
    return {h["document_id"] for h in _cli(env, "search", *filters)}


@pytest.mark.integration
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_place_flows_to_the_metadata_the_index_and_back(kind, sohoa_env, tmp_path, request):
    """A stack with a cover sheet naming a result, processed; then an operator changes the
    place of the archived copy; reindex and ledger rebuild bring it back from the archive."""
    from PIL import Image

    env = {**sohoa_env, **backend_env(kind, request)}
    cover = render_cover(CODE, component="KQ_01", kind="result", procedure="1.000555")
    with Image.open(small_page(5, tmp_path / "p5.png", dpi=150)) as content:
        pages = [stacks.damaged(cover.reduce(2), "clean"), content.convert("L")]
    stack = stacks.write_stack(pages, tmp_path / "stack.pdf")
    (row,) = _cli(env, "process", str(stack))
    assert row["status"] == "indexed", row
    meta = _meta(env, row["metadata_key"])
    assert (meta["component_code"], meta["kind"], meta["procedure_code"]) == (
        "KQ_01",
        "result",
        "1.000555",
    )
    assert meta["sohoa"]["place_source"] == "cover"
    doc_id = row["document_id"]
    assert _found(env, "--component", "KQ_01", "--kind", "result") == {doc_id}
    assert _found(env, "--kind", "submitted") == set()
    assert _found(env, "--component", "KQ_02") == set()
    bad = sohoa(env, "search", "--component", "KQ 01")
    assert bad.returncode == 2 and "component code" in bad.stderr

    # An operator moves the archived copy to another component: metadata, index, ledger.
    (placed,) = _cli(env, "assign", doc_id, "--component", "KQ_02")
    assert (placed["component_code"], placed["kind"]) == ("KQ_02", "result")
    meta2 = _meta(env, row["metadata_key"])
    assert (meta2["component_code"], meta2["kind"], meta2["sohoa"]["place_source"]) == (
        "KQ_02",
        "result",
        "assigned",
    )
    assert meta2["file"] == meta["file"] and meta2["signature"] == meta["signature"]
    assert _found(env, "--component", "KQ_02") == {doc_id}
    assert _found(env, "--component", "KQ_01") == set()
    moved = sohoa(env, "assign", doc_id, "--dossier", CODE_B)
    assert moved.returncode == 2 and "stays" in moved.stderr
    (shown,) = _cli(env, "show", doc_id)
    assert shown["component_code"] == "KQ_02" and shown["events"][-1]["stage"] == "place"

    # From the archive alone: a fresh index, then a fresh ledger.
    from pipeline.storage.ledger import open_ledger

    _cli(env, "reindex")
    assert _found(env, "--component", "KQ_02", "--kind", "result") == {doc_id}
    cfg = load_config(env=env)
    if kind == "sqlite":
        for f in cfg.ledger_path.parent.glob(cfg.ledger_path.name + "*"):
            f.unlink()
    else:
        env = {**env, "SOHOA_DATABASE_URL": backend_env(kind, request)["SOHOA_DATABASE_URL"]}
        cfg = load_config(env=env)
    _cli(env, "ledger", "rebuild")
    ledger = open_ledger(cfg)
    try:
        back = ledger.get_document(doc_id)
    finally:
        ledger.close()
    assert (back.component_code, back.kind, back.procedure_code, back.place_source) == (
        "KQ_02",
        "result",
        "1.000555",
        "assigned",
    )
    assert back.pdf_sha256 == meta["file"]["sha256"]


@pytest.mark.integration
def test_a_folder_gives_the_place_and_assign_gives_it_with_the_code(sohoa_env, tmp_path):
    """`sohoa watch --once` takes inbox/<station>/<code>/<component>/file: a submitted
    paper of that component; a file without a code waits, and `sohoa assign` gives it
    its code and its place at once."""
    from tests.support.watch import quick_env

    env = quick_env(sohoa_env, tmp_path, stable_seconds=0)
    inbox = Path(env["SOHOA_INBOX"])
    small_page(7, inbox / "motcua-02" / CODE / "TP_06" / "don.png")
    small_page(8, inbox / "motcua-02" / "chua-ro" / "giay.png")
    rows = {r["source"].rsplit("/", 1)[-1]: r for r in _cli(env, "watch", "--once")}
    placed, waiting = rows["don.png"], rows["giay.png"]
    assert placed["status"] == "indexed" and waiting["status"] == "needs_dossier"
    meta = _meta(env, placed["metadata_key"])
    assert (meta["component_code"], meta["kind"], meta["sohoa"]["place_source"]) == (
        "TP_06",
        "submitted",
        "folder",
    )
    (done,) = _cli(
        env, "assign", waiting["document_id"], "--dossier", CODE_B, "--component", "KQ_07",
        "--kind", "result",
    )  # fmt: skip
    assert done["status"] == "indexed"
    meta = _meta(env, done["metadata_key"])
    assert (meta["component_code"], meta["kind"], meta["sohoa"]["place_source"]) == (
        "KQ_07",
        "result",
        "assigned",
    )
    assert _found(env, "--component", "KQ_07", "--dossier", CODE_B) == {done["document_id"]}
