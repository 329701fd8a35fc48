"""End to end: the real `sohoa` CLI, a real MinIO, real Tesseract, PDFs read back by poppler."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import load_config
from pipeline.lang.textnorm import fold
from pipeline.storage import objects as store
from samples import generate
from tests.support.cli import json_lines, sohoa, with_quick_watch

pytestmark = pytest.mark.integration

CODE_FOLDER = "000.00.13.H38-261120-0001"
CODE_NAME = "000.00.13.H38-261120-0002"
CODE_QR = "000.00.13.H38-261121-0003"


@pytest.fixture
def env(sohoa_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return with_quick_watch(sohoa_env, tmp_path, stable_seconds=2, retry_seconds=3)


def words_found(expected: str, actual: str) -> float:
    """Share of ground-truth words present in the extracted text (exact diacritics)."""
    want = [w for w in expected.split() if any(ch.isalpha() for ch in w)]
    have = set(actual.split())
    return sum(1 for w in want if w in have) / max(1, len(want))


def pdftotext(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


SAMPLES = Path(__file__).resolve().parents[1] / "samples"
DEMO = f"motcua-01/{CODE_NAME}__ho-so-xay-dung.pdf"


def test_inbox_to_archive(env: dict[str, str], tmp_path: Path) -> None:
    """The demo's own dossier file (an application, a decision, a letter; no cover sheet)
    is three documents, each with its own type and fields; the receipt and the
    application after it are two; search by number and by type finds the decision."""
    inbox = Path(env["SOHOA_INBOX"])
    originals = tmp_path / "originals"
    originals.mkdir()
    png_page = generate.degrade(
        generate.render_page("application", seed=11, dpi=200), "skew", seed=11
    )
    tif_pages = [
        generate.render_page("receipt", seed=13, dossier_code=CODE_QR, dpi=200, qr=True),
        generate.render_page("application", seed=14, dpi=200),
    ]
    drops = {
        f"motcua-01/{CODE_FOLDER}/to-khai.png": ([png_page], generate.write_png),
        "motcua-02/bien-nhan.tif": (tif_pages, generate.write_tiff),
    }
    for rel, (pages, writer) in drops.items():
        target = originals / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        writer(pages[0] if writer is generate.write_png else pages, target)
    (originals / DEMO).write_bytes((SAMPLES / "inbox" / DEMO).read_bytes())
    demo_truth = (SAMPLES / "truth" / DEMO).with_suffix(".txt").read_text(encoding="utf-8")
    shutil.copytree(originals, inbox)

    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert {d["status"] for d in rows} == {"indexed"}, result.stdout + result.stderr
    docs: dict[str, list[dict]] = {}
    for d in rows:
        docs.setdefault(d["dossier_code"], []).append(d)
    assert set(docs) == {CODE_FOLDER, CODE_NAME, CODE_QR}, result.stdout + result.stderr
    # One page each: the demo file is three documents, the receipt's file two.
    assert {c: [d["pages"] for d in ds] for c, ds in docs.items()} == {
        CODE_FOLDER: [1],
        CODE_NAME: [1, 1, 1],
        CODE_QR: [1, 1],
    }
    assert not [p for p in inbox.rglob("*") if p.is_file()], "inbox must be empty afterwards"

    cfg = load_config(env=env)
    st = store.connect(cfg)
    keys = set(st.list_keys(st.archive_bucket))
    for code, ds in docs.items():
        for n in range(1, len(ds) + 1):
            for ext in ("pdf", "json", "txt"):
                assert f"{code}/{code}.{n}.{ext}" in keys

    # Each document's own pages: (its truth text, the source file it came from).
    truths = {
        CODE_FOLDER: [png_page.text],
        CODE_NAME: demo_truth.split("\f"),
        CODE_QR: [p.text for p in tif_pages],
    }
    sources = {
        CODE_FOLDER: "to-khai.png",
        CODE_NAME: Path(DEMO).name,
        CODE_QR: "bien-nhan.tif",
    }
    metas: dict[str, list[dict]] = {}
    for code, texts in truths.items():
        src = next(originals.rglob(sources[code]))
        src_bytes = src.read_bytes()
        for n, truth in enumerate(texts, start=1):
            pdf_path = tmp_path / f"{code}.{n}.pdf"
            pdf_path.write_bytes(st.get_bytes(st.archive_bucket, f"{code}/{code}.{n}.pdf"))
            text = pdftotext(pdf_path)
            assert words_found(truth, text) >= 0.9, (code, n, text[:400])
            assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
            fonts = subprocess.run(
                ["pdffonts", str(pdf_path)], capture_output=True, text=True
            ).stdout
            assert "yes" in fonts.splitlines()[-1], fonts
            with pikepdf.open(pdf_path) as archived, archived.open_metadata() as xmp:
                # The title names the dossier, never the clerk's file name (often the citizen's).
                assert xmp["dc:title"].startswith(code), xmp["dc:title"]
                stem = Path(sources[code]).stem.split("__")[-1]
                assert stem not in xmp["dc:title"] and stem not in str(archived.docinfo), stem

            meta = json.loads(st.get_bytes(st.archive_bucket, f"{code}/{code}.{n}.json"))
            metas.setdefault(code, []).append(meta)
            assert meta["dossier_code"] == code and meta["doc_id"] == f"{code}.{n}"
            assert meta["doc_ordinal"] == n and meta["number_of_page"] == 1
            assert meta["confidence_level"] == "02" and meta["language"] == "vi"
            assert meta["ocr"]["unicode_form"] == "NFC"
            assert len(meta["ocr"]["mean_confidence"]) == 1
            assert meta["file"]["pdfa"] == {"part": 2, "conformance": "B"}
            assert meta["file"]["sha256"] == hashlib.sha256(pdf_path.read_bytes()).hexdigest()
            assert meta["source"]["sha256"] == hashlib.sha256(src_bytes).hexdigest()
            assert meta["source"]["file_name"] == sources[code]
            if len(texts) > 1:  # a document of a split file: its own page of the source
                assert meta["split"]["source_pages"] == [n, n]
                first = {CODE_NAME: None, CODE_QR: "receipt"}[code]
                assert meta["split"]["started_by"] == (first if n == 1 else "content")
            # Fields read off the page, never invented: each is null or printed on its page.
            printed = " ".join(fold(truth).lower().split())  # a subject may take two lines
            for name in ("type_name", "organ_name", "subject", "code_notation", "signer_name"):
                value = meta[name]
                if value == "CÔNG VĂN":  # a letter's type is read off its "V/v" line
                    assert "v/v" in printed
                    continue
                assert value is None or fold(value).lower() in printed, (name, value)
            raw = st.get_bytes(st.raw_bucket, meta["source"]["raw_key"])
            assert raw == src_bytes, "raw bucket must hold the byte-identical original"
            txt = st.get_bytes(st.archive_bucket, f"{code}/{code}.{n}.txt").decode("utf-8")
            assert "\f" not in txt
    # Each document its own type: ĐƠN, QUYẾT ĐỊNH, CÔNG VĂN; the receipt, then the form.
    assert [m["type_name"] for m in metas[CODE_NAME]] == ["ĐƠN", "QUYẾT ĐỊNH", "CÔNG VĂN"]
    decision = metas[CODE_NAME][1]
    assert (decision["code_number"], decision["code_notation"]) == (892, "QĐ-SXD")
    assert decision["issued_date"] == "2026-12-01" and decision["organ_name"] == "SỞ XÂY DỰNG"
    receipt, application = metas[CODE_QR]
    assert receipt["type_name"] == "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
    assert application["type_name"] in ("ĐƠN", "TỜ KHAI")  # a citizen's form
    assert {m["sohoa"]["dossier_source"] for m in metas[CODE_QR]} == {"qr"}
    assert {m["sohoa"]["dossier_source"] for m in metas[CODE_NAME]} == {"filename"}

    # Search sees it too, typed without diacritics; by number and by type, the decision.
    found = sohoa(env, "--json", "search", "cong hoa xa hoi chu nghia", "--dossier", CODE_QR)
    assert found.returncode == 0, found.stderr
    hits = json_lines(found.stdout)
    assert hits and all(h["dossier_code"] == CODE_QR for h in hits)
    for args in (("--number", "892/QĐ-SXD"), ("--number", "892/qd-sxd"), ("--type", "quyet dinh")):
        found = sohoa(env, "--json", "search", *args)
        assert found.returncode == 0, found.stderr
        hits = json_lines(found.stdout)
        assert {h["pdf_key"] for h in hits} == {f"{CODE_NAME}/{CODE_NAME}.2.pdf"}, (args, hits)
        assert hits[0]["type_name"] == "QUYẾT ĐỊNH"

    # Dropping the same bytes again never makes a second archive document.
    again = inbox / "motcua-03" / "lai.png"
    again.parent.mkdir(parents=True)
    shutil.copyfile(originals / f"motcua-01/{CODE_FOLDER}/to-khai.png", again)
    second = sohoa(env, "--json", "watch", "--once")
    (dup,) = json_lines(second.stdout)
    assert dup["status"] == "duplicate" and f"{CODE_FOLDER}.1.pdf" in dup["error"]
    assert sum(1 for k in st.list_keys(st.archive_bucket) if k.endswith(".pdf")) == 6


def assert_pdfa(paths: list[Path]) -> None:
    """veraPDF says every archived file is PDF/A-2b (required in CI, where setup installs it)."""
    from tests.test_pdf import verapdf_command

    cmd = verapdf_command()
    if cmd is None:
        assert not os.environ.get("CI"), "veraPDF missing in CI: scripts/get-verapdf.sh failed"
        return
    result = subprocess.run(
        [*cmd, "--flavour", "2b", "--format", "text", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    for path in paths:
        assert f"PASS {path} 2b" in result.stdout, result.stdout + result.stderr


def test_file_written_slowly_is_taken_once_complete(env: dict[str, str], tmp_path: Path) -> None:
    inbox = Path(env["SOHOA_INBOX"])
    src = tmp_path / "slow.png"
    generate.write_png(generate.render_page("application", seed=21, dpi=200), src)
    data = src.read_bytes()
    target = inbox / "motcua-01" / CODE_FOLDER / "cham.png"
    target.parent.mkdir(parents=True)
    chunks = 10
    step = len(data) // chunks + 1

    def writer() -> None:
        with open(target, "wb") as fh:
            for i in range(chunks):
                fh.write(data[i * step : (i + 1) * step])
                fh.flush()
                os.fsync(fh.fileno())
                time.sleep(1.0)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.3)
    result = sohoa(env, "--json", "watch", "--once")
    t.join()
    assert result.returncode == 0, result.stderr
    (doc,) = json_lines(result.stdout)
    assert doc["status"] == "indexed" and doc["pages"] == 1
    cfg = load_config(env=env)
    st = store.connect(cfg)
    meta = json.loads(st.get_bytes(st.archive_bucket, doc["metadata_key"]))
    assert st.get_bytes(st.raw_bucket, meta["source"]["raw_key"]) == data
    assert [k for k in st.list_keys(st.archive_bucket) if k.endswith(".pdf")] == [doc["pdf_key"]]


def test_bad_files_are_rejected_and_the_batch_goes_on(env: dict[str, str], tmp_path: Path) -> None:
    inbox = Path(env["SOHOA_INBOX"])
    folder = inbox / "motcua-01" / CODE_FOLDER
    folder.mkdir(parents=True)
    generate.write_png(generate.render_page("application", seed=31, dpi=200), folder / "a-tot.png")
    (folder / "b-rong.pdf").write_bytes(b"")
    # An empty file waits watch.empty_timeout_seconds for its bytes; this one is older than that.
    two_hours_ago = time.time() - 7200
    os.utime(folder / "b-rong.pdf", (two_hours_ago, two_hours_ago))
    (folder / "c-anh.jpg").write_text("đây là văn bản, không phải ảnh", encoding="utf-8")
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 3, result.stderr  # input rejected
    docs = {d["document_id"]: d for d in json_lines(result.stdout)}
    by_status = sorted((d["status"], d["error"] or "") for d in docs.values())
    assert [s for s, _ in by_status] == ["indexed", "rejected", "rejected"]
    reasons = " | ".join(e for _, e in by_status)
    assert "empty file" in reasons and "not a PDF, TIFF, JPEG or PNG" in reasons

    shown = sohoa(env, "--json", "batches", "--status", "rejected")
    (batch,) = json_lines(shown.stdout)
    assert batch["states"] == {"indexed": 1, "rejected": 2}
    # The originals of rejected files are kept in the raw bucket.
    cfg = load_config(env=env)
    st = store.connect(cfg)
    for content in originals.values():
        key = "sha256/" + hashlib.sha256(content).hexdigest()
        assert st.get_bytes(st.raw_bucket, key) == content
    detail = sohoa(
        env, "show", next(d for d in docs.values() if d["status"] == "rejected")["document_id"]
    )
    assert "stored_raw" in detail.stdout and "rejected" in detail.stdout


def test_storage_unreachable_exits_4_and_keeps_the_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    from tests.support.minio import free_port

    down = {**env, "SOHOA_MINIO_ENDPOINT": f"127.0.0.1:{free_port()}"}
    inbox = Path(env["SOHOA_INBOX"])
    target = inbox / "motcua-01" / "x.png"
    target.parent.mkdir(parents=True)
    generate.write_png(generate.render_page("application", seed=41, dpi=200), target)
    before = target.read_bytes()
    result = sohoa(down, "watch", "--once")
    assert result.returncode == 4, result.stderr
    assert "unreachable" in result.stderr
    assert target.read_bytes() == before
    # Once MinIO is back, the same command archives it.
    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    assert [d["status"] for d in json_lines(result.stdout)] == ["needs_dossier"]
    assert not target.exists()


def test_process_command_with_explicit_dossier(env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "don.png"
    generate.write_png(generate.render_page("application", seed=51, dpi=200), src)
    bad = sohoa(env, "process", str(src), "--dossier", "../etc")
    assert bad.returncode == 2 and "not a valid dossier code" in bad.stderr
    result = sohoa(
        env,
        "--json",
        "process",
        str(src),
        "--dossier",
        "000.00.13.h38-261127-0009",
        "--station",
        "quay-1",
    )
    assert result.returncode == 0, result.stderr
    (doc,) = json_lines(result.stdout)
    assert doc["dossier_code"] == "000.00.13.H38-261127-0009" and doc["status"] == "indexed"
    assert src.exists(), "process leaves the user's own file in place"
    text = fold(pdftotext_from(env, doc["pdf_key"], tmp_path))
    assert "CONG HOA" in text


def pdftotext_from(env: dict[str, str], key: str, tmp_path: Path) -> str:
    cfg = load_config(env=env)
    st = store.connect(cfg)
    path = tmp_path / "fetched.pdf"
    path.write_bytes(st.get_bytes(st.archive_bucket, key))
    return pdftotext(path)


def test_listing_commands_in_both_output_forms(env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "to-khai.png"
    generate.write_png(generate.render_page("application", seed=71, dpi=200), src)
    done = sohoa(env, "--json", "process", str(src), "--dossier", CODE_FOLDER)
    (doc,) = json_lines(done.stdout)
    for args in (
        ("batches",),
        ("--json", "batches"),
        ("show", doc["batch_id"]),
        ("show", doc["document_id"][:8]),
        ("--json", "show", doc["document_id"]),
    ):
        result = sohoa(env, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert doc["batch_id"] in result.stdout or doc["document_id"] in result.stdout
    history = sohoa(env, "show", doc["document_id"]).stdout
    for state in ("received", "stored_raw", "processing", "archived", "indexed"):
        assert state in history
    assert "cli:" in history  # the actor of every transition is recorded
    assert sohoa(env, "show", "nope").returncode == 2
