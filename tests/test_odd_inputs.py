"""Hostile and odd input (issue 4 item 6): every file ends in a clear state, the original kept.

Most files go through ONE `sohoa process` call (pages run in parallel) against a real
MinIO; each test then checks one file's state, reason, pages and archive. Real files
come from the shared odd-inputs collection; a few are made here (zero-byte, truncated,
decompression-bomb headers, a text file named ``.jpg``, a Vietnamese NFD file name).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import struct
import subprocess
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import load_config
from pipeline.flow import page as flow_page
from pipeline.flow.page import process_page
from pipeline.read import pages
from pipeline.storage import objects as store
from samples import generate
from tests.conftest import SHARED_DATA
from tests.support.cli import json_lines, sohoa
from tests.support.jobs import page_job
from tests.support.minio import MinioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ODD = SHARED_DATA / "odd-inputs"
RES = ODD / "ocrmypdf-tests-resources"
CODE = "000.00.13.H38-261127-0101"
NFD_NAME = unicodedata.normalize("NFD", "Đơn đề nghị.png")


def pdftotext(data: bytes, tmp: Path) -> str:
    path = tmp / f"{hashlib.sha256(data).hexdigest()[:12]}.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``x``height`` gray pixels but carries almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def small_page(seed: int, path: Path) -> Path:
    """The top of a generated page (real Vietnamese text, quick to OCR), no dossier code."""
    page = generate.render_page("application", seed=seed, dpi=200)
    page.image.crop((0, 0, page.image.width, page.image.height // 4)).save(path, dpi=(200, 200))
    return path


def module_env(server: MinioServer, root: Path) -> dict[str, str]:
    """Like the ``sohoa_env`` fixture, for a module-scoped batch."""
    suffix = secrets.token_hex(4)
    conf = root / "test.yaml"
    conf.write_text(
        "watch:\n  stable_seconds: 1\n  rescan_seconds: 1\nminio:\n  retry_seconds: 3\n",
        encoding="utf-8",
    )
    return {
        **server.env(),
        "SOHOA_HOME": str(root / "home"),
        "SOHOA_INBOX": str(root / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-odd-{suffix}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-odd-{suffix}",
        "SOHOA_CONFIG": str(conf),
    }


@dataclass
class Batch:
    env: dict[str, str]
    st: store.Store
    returncode: int
    stderr: str
    docs: dict[str, dict]  # by NFC source name
    sources: dict[str, Path]  # by NFC source name
    work: Path

    def doc(self, name: str) -> dict:
        assert name in self.docs, f"{name} not in batch: {sorted(self.docs)}\n{self.stderr}"
        return self.docs[name]

    def meta(self, name: str) -> dict:
        return json.loads(self.st.get_bytes(self.st.archive_bucket, self.doc(name)["metadata_key"]))

    def archived_pdf(self, name: str) -> bytes:
        return self.st.get_bytes(self.st.archive_bucket, self.doc(name)["pdf_key"])

    def raw(self, name: str) -> bytes:
        key = "sha256/" + hashlib.sha256(self.sources[name].read_bytes()).hexdigest()
        return self.st.get_bytes(self.st.raw_bucket, key)


def run_batch(env: dict[str, str], files: list[Path], work: Path, *extra: str) -> Batch:
    result = sohoa(env, "--json", "process", *map(str, files), *extra)
    rows = json_lines(result.stdout)
    assert rows, result.stderr
    shown = sohoa(env, "--json", "show", rows[0]["batch_id"])
    (batch,) = json_lines(shown.stdout)
    docs = {d["source_name"]: d for d in batch["documents"]}
    sources = {unicodedata.normalize("NFC", p.name): p for p in files}
    st = store.connect(load_config(env=env))
    return Batch(env, st, result.returncode, result.stderr, docs, sources, work)


# ------------------------------------------------------------------- the big batch

# Files that must be refused, and words their reason must contain (for an operator).
REJECTED = {
    "rong.pdf": r"empty file",
    "nua-ba-trang.pdf": r"damaged|invalid|truncated|cannot render",
    "skew-nua.pdf": r"damaged|invalid|truncated",
    "invalid.pdf": r"damaged|invalid",
    "skew-encrypted.pdf": r"password",
    "bom.png": r"too large|exceeds|limit",
    "bom-vua.png": r"too large|exceeds|limit",
    "van-ban.jpg": r"not a PDF, TIFF, JPEG or PNG",
}
# Files that must be archived, with their page counts.
ARCHIVED = {
    "encrypted_algo4.pdf": 1,  # owner password only: opens without one
    "danang_3.pdf": 6,  # encrypted (no user password) and digitally signed
    "vietsample1.pdf": 2,  # good Unicode text layer
    "truetype_font_nomapping.pdf": 1,  # text layer without Unicode maps: junk
    "udhr_vie.pdf": 5,  # TCVN3 .VnTime layer: mojibake
    "2400dpi.pdf": 1,
    "cmyk.pdf": 1,
    "baiona_cmyk.jpg": 1,
    "palette.pdf": 1,
    "baiona_colormapped.png": 1,
    "baiona_alpha.png": 1,
    "jbig2.pdf": 1,
    "ccitt.pdf": 1,
    "lichtenstein.pdf": 1,  # JPEG 2000
    unicodedata.normalize("NFC", NFD_NAME): 1,
}
SHARED = {
    "invalid.pdf": RES / "invalid.pdf",
    "skew-encrypted.pdf": RES / "skew-encrypted.pdf",
    "danang_3.pdf": ODD / "vn-real-scans-vietadmin" / "danang_3.pdf",
    "vietsample1.pdf": ODD / "vietocr3-samples" / "vietsample1.pdf",
    "udhr_vie.pdf": ODD / "vn-udhr-ohchr-pdf" / "udhr_vie.pdf",
}


@pytest.fixture(scope="module")
def batch(minio_server: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    root = tmp_path_factory.mktemp("odd")
    drop = root / "drop"
    drop.mkdir()
    (drop / "rong.pdf").write_bytes(b"")
    three = drop / "ba-trang.pdf"
    generate.write_pdf(
        [generate.render_page(k, seed=7, dpi=150) for k in ("application", "decision", "letter")],
        three,
    )
    whole = three.read_bytes()
    three.unlink()
    (drop / "nua-ba-trang.pdf").write_bytes(whole[: len(whole) // 2])
    skew = (RES / "skew.pdf").read_bytes()
    (drop / "skew-nua.pdf").write_bytes(skew[: len(skew) // 2])
    (drop / "bom.png").write_bytes(png_header_only(100_000, 100_000))
    (drop / "bom-vua.png").write_bytes(png_header_only(30_000, 20_000))
    (drop / "van-ban.jpg").write_text("đây là văn bản, không phải ảnh\n", encoding="utf-8")
    small_page(61, drop / NFD_NAME)
    files = sorted(drop.iterdir())
    for name in [*REJECTED, *ARCHIVED]:
        nfc_names = {unicodedata.normalize("NFC", p.name) for p in files}
        if name not in nfc_names:
            files.append(SHARED.get(name, RES / name))
    env = module_env(minio_server, root)
    return run_batch(env, files, root, "--dossier", CODE, "--station", "quầy-1")


def test_batch_exit_code_says_input_rejected(batch: Batch) -> None:
    assert batch.returncode == 3, batch.stderr
    assert set(batch.docs) == set(REJECTED) | set(ARCHIVED)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_with_a_clear_reason_and_the_original_kept(batch: Batch, name: str) -> None:
    doc = batch.doc(name)
    assert doc["status"] == "rejected", doc
    assert re.search(REJECTED[name], doc["error"] or "", re.IGNORECASE), doc["error"]
    assert doc["pdf_key"] is None
    assert batch.raw(name) == batch.sources[name].read_bytes(), "original kept byte-identical"


def test_encrypted_pdf_with_user_password_names_the_password(batch: Batch) -> None:
    reason = batch.doc("skew-encrypted.pdf")["error"]
    assert "password" in reason and "unprotected copy" in reason


def test_decompression_bomb_is_refused_before_decoding(batch: Batch) -> None:
    reason = batch.doc("bom.png")["error"]
    assert "10000000000" in reason or "100000x100000" in reason, reason


@pytest.mark.parametrize("name", sorted(ARCHIVED))
def test_archived_as_a_new_pdfa_with_the_original_in_raw(
    batch: Batch, name: str, tmp_path: Path
) -> None:
    doc = batch.doc(name)
    assert doc["status"] == "indexed", doc
    assert doc["pages"] == ARCHIVED[name]
    assert doc["pdf_key"].startswith(f"{CODE}/{CODE}.") and doc["pdf_key"].endswith(".pdf")
    original = batch.sources[name].read_bytes()
    assert batch.raw(name) == original
    meta = batch.meta(name)
    assert meta["number_of_page"] == ARCHIVED[name]
    assert meta["source"]["sha256"] == hashlib.sha256(original).hexdigest()
    assert meta["file"]["pdfa"] == {"part": 2, "conformance": "B"}
    archived = batch.archived_pdf(name)
    assert archived != original
    with pikepdf.open(_write(tmp_path, archived)) as pdf:
        assert not pdf.is_encrypted, "the archive copy must open without any password"
        assert len(pdf.pages) == ARCHIVED[name]
    for page in meta["pages"]:
        assert page["dpi"] >= 200, page  # Circular 05/2025: at least 200 dpi


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "archived.pdf"
    path.write_bytes(data)
    return path


def test_signed_pdf_is_never_rewritten(batch: Batch, tmp_path: Path) -> None:
    name = "danang_3.pdf"
    original = batch.sources[name].read_bytes()
    assert b"/ByteRange" in original  # the fixture really is signed
    assert batch.raw(name) == original, "the signed original stays byte-identical in raw"
    archived = batch.archived_pdf(name)
    assert b"/ByteRange" not in archived, "the new PDF/A carries no copied signature"
    meta = batch.meta(name)
    assert meta["source"]["signed"] is True and meta["source"]["encrypted"] is True
    text = pdftotext(archived, tmp_path)
    assert "Đà Nẵng" in text or "ĐÀ NẴNG" in text, text[:600]


def test_good_text_layer_is_kept(batch: Batch, tmp_path: Path) -> None:
    text = pdftotext(batch.archived_pdf("vietsample1.pdf"), tmp_path)
    for phrase in ("Áo Lụa Hà Đông", "áo lụa Hà Đông", "Nắng Sài Gòn anh đi mà chợt mát"):
        assert phrase in text, text[:600]


def test_tcvn3_mojibake_layer_is_replaced_by_vietnamese_ocr(batch: Batch, tmp_path: Path) -> None:
    original = subprocess.run(
        ["pdftotext", str(batch.sources["udhr_vie.pdf"]), "-"], capture_output=True, text=True
    ).stdout
    assert "quyền" not in original  # the layer really is mojibake
    text = pdftotext(batch.archived_pdf("udhr_vie.pdf"), tmp_path)
    stored = batch.st.get_bytes(
        batch.st.archive_bucket, batch.doc("udhr_vie.pdf")["text_key"]
    ).decode("utf-8")
    for got in (text, stored):
        assert "7X\\zQQJ" not in got
        for word in ("quyền", "người", "Tuyên", "nhân"):
            assert word in got, (word, got[:600])


def test_layer_without_unicode_map_is_replaced_by_ocr(batch: Batch, tmp_path: Path) -> None:
    text = pdftotext(batch.archived_pdf("truetype_font_nomapping.pdf"), tmp_path)
    assert "Phone" in text and '"7+%-' not in text, text


@pytest.mark.parametrize(
    ("name", "colours"),
    [
        ("cmyk.pdf", {"colour"}),
        ("baiona_cmyk.jpg", {"colour"}),
        ("palette.pdf", {"colour", "gray"}),
        ("baiona_colormapped.png", {"colour", "gray"}),
        ("baiona_alpha.png", {"colour"}),
        ("jbig2.pdf", {"bilevel", "gray"}),
        ("ccitt.pdf", {"bilevel", "gray"}),
        ("lichtenstein.pdf", {"gray"}),  # a gray JPX image
    ],
)
def test_colour_modes_are_read(batch: Batch, name: str, colours: set[str]) -> None:
    (page,) = batch.meta(name)["pages"]
    assert page["colour"] in colours, page


def test_cmyk_jpeg_is_not_inverted(batch: Batch, tmp_path: Path) -> None:
    """Adobe CMYK JPEGs store inverted ink; read wrongly, the page comes out as a negative."""
    from PIL import Image, ImageStat

    path = _write(tmp_path, batch.archived_pdf("baiona_cmyk.jpg"))
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / "p")], check=True)
    (png,) = tmp_path.glob("p*.png")
    with Image.open(png) as got, Image.open(RES / "baiona_color.jpg") as want:
        mean_got = ImageStat.Stat(got.convert("L")).mean[0]
        mean_want = ImageStat.Stat(want.convert("L")).mean[0]
    assert abs(mean_got - mean_want) < 40, (mean_got, mean_want)


def test_jbig2_and_ccitt_pages_are_read(batch: Batch) -> None:
    for name in ("jbig2.pdf", "ccitt.pdf"):
        assert batch.meta(name)["pages"][0]["words"] > 20, name


def test_nfd_file_name_is_recorded_in_nfc(batch: Batch) -> None:
    nfc_name = unicodedata.normalize("NFC", NFD_NAME)
    assert nfc_name != NFD_NAME
    assert nfc_name in batch.docs and NFD_NAME not in batch.docs
    meta = batch.meta(nfc_name)
    assert meta["source"]["file_name"] == nfc_name == "Đơn đề nghị.png"
    raw = batch.st.stat(batch.st.raw_bucket, meta["source"]["raw_key"])
    assert raw is not None


def test_every_key_stays_under_its_prefix(batch: Batch) -> None:
    everything = list(batch.st.list_keys(batch.st.archive_bucket))
    markers = [k for k in everything if k.startswith("sources/")]
    assert len(markers) == len(ARCHIVED)
    assert all(re.fullmatch(r"sources/sha256/[0-9a-f]{64}\.json", k) for k in markers), markers
    archive = [k for k in everything if k not in markers]
    assert len(archive) == 4 * len(ARCHIVED)  # .pdf, .txt, .words.json, .json
    pattern = re.compile(rf"^{re.escape(CODE)}/{re.escape(CODE)}\.\d+\.(pdf|json|txt|words\.json)$")
    assert all(pattern.match(k) for k in archive), archive
    raw = list(batch.st.list_keys(batch.st.raw_bucket))
    assert all(re.fullmatch(r"sha256/[0-9a-f]{64}", k) for k in raw), raw
    assert len(raw) == len(REJECTED) + len(ARCHIVED)


def test_odd_pdfs_leave_no_temporary_files(batch: Batch) -> None:
    home = Path(batch.env["SOHOA_HOME"])
    left = [p for p in home.rglob("*") if p.is_file() and "tmp" in p.relative_to(home).parts]
    spool = [p for p in home.rglob("*") if p.is_file() and "spool" in p.relative_to(home).parts]
    assert left == [] and spool == []


# ------------------------------------------------------------------- a page too big


class _Captured(Exception):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        self.shape = shape


def test_huge_page_stays_within_the_pixel_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 35000² mono page (8400 pt square) must be bounded by ingest.max_page_pixels.

    Either it is refused with a clear reason, or the image handed to cleanup/OCR fits
    the budget. Cleanup is replaced by a probe so the test costs a render, not an OCR.
    """
    cfg = load_config(env={}, overrides={"ingest": {"max_page_pixels": 2_000_000}})

    def probe(image: object, dpi: float, _cfg: object, **_options: object) -> None:
        raise _Captured(image.shape)  # type: ignore[attr-defined]

    monkeypatch.setattr(flow_page, "cleanup_page", probe)
    job = page_job(RES / "hugemono.pdf", pages.PDF, 0, cfg)
    try:
        process_page(job, RES / "hugemono.pdf", tmp_path / "page.pdf")
    except pages.RejectedInput as exc:
        assert re.search(r"too large|pixels|size", str(exc)), exc
        return
    except _Captured as got:
        h, w = got.shape[:2]
        assert h * w <= cfg.ingest.max_page_pixels, f"{w}x{h} px handed to cleanup"
        return
    pytest.fail("cleanup was never reached and nothing was rejected")


# ------------------------------------------------------------------- folder and file names

# Folder names that look like a code but must never become an object-key prefix.
BAD_FOLDERS = {
    "dotdot-lead": "..000.00.13.H38-261127-0001",
    "dotdot-inside": "000.00..13.H38-261127-0001",
    "dotdot-trail": "000.00.13.H38-261127-0001..",
    "division-slash": "000.00.13.H38\u2215261127\u22150001",
    "fullwidth-solidus": "000.00.13.H38\uff0f261127-0001",
    "fraction-slash": "000.00.13.H38\u2044..\u2044261127-0001",
}
UNICODE_DIGIT_FOLDERS = {
    "fullwidth-digits": "000.00.13.H38-\uff12\uff16\uff11\uff11\uff12\uff17-0001",
    "arabic-indic-digits": "000.00.13.H38-261127-\u0660\u0660\u0660\u0661",
}


@pytest.fixture(scope="module")
def names_batch(minio_server: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    root = tmp_path_factory.mktemp("names")
    files = []
    for seed, (label, folder) in enumerate({**BAD_FOLDERS, **UNICODE_DIGIT_FOLDERS}.items()):
        target = root / "drop" / folder / f"{label}.png"
        target.parent.mkdir(parents=True)
        files.append(small_page(700 + seed, target))
    return run_batch(module_env(minio_server, root), files, root)


@pytest.mark.parametrize("label", sorted(BAD_FOLDERS))
def test_folder_name_with_dotdot_or_slash_is_never_a_key(names_batch: Batch, label: str) -> None:
    doc = names_batch.doc(f"{label}.png")
    assert doc["status"] == "needs_dossier", doc
    assert doc["dossier_code"] is None and doc["pdf_key"] is None
    assert "sohoa assign" in doc["error"]


@pytest.mark.parametrize("label", sorted(UNICODE_DIGIT_FOLDERS))
def test_folder_name_with_non_ascii_digits_is_not_a_code(names_batch: Batch, label: str) -> None:
    doc = names_batch.doc(f"{label}.png")
    assert doc["status"] == "needs_dossier", doc
    assert doc["pdf_key"] is None


def test_names_batch_archives_nothing_outside_ascii_keys(names_batch: Batch) -> None:
    for key in names_batch.st.list_keys(names_batch.st.archive_bucket):
        assert ".." not in key and not key.startswith("/")
        assert "\u2215" not in key and "\uff0f" not in key and "\u2044" not in key


def test_watcher_takes_a_file_in_a_folder_starting_with_dotdot(
    sohoa_env: dict[str, str], tmp_path: Path
) -> None:
    conf = tmp_path / "test.yaml"
    conf.write_text("watch:\n  stable_seconds: 1\n  rescan_seconds: 1\n", encoding="utf-8")
    env = {**sohoa_env, "SOHOA_CONFIG": str(conf)}
    folder = Path(env["SOHOA_INBOX"]) / "motcua-01" / "..000.00.13.H38-261127-0001"
    folder.mkdir(parents=True)
    small_page(801, folder / "don.png")
    result = sohoa(env, "--json", "watch", "--once")
    docs = json_lines(result.stdout)
    assert [d["status"] for d in docs] == ["needs_dossier"], result.stdout + result.stderr
    assert not (folder / "don.png").exists()


def test_watcher_records_nfd_names_in_nfc(sohoa_env: dict[str, str], tmp_path: Path) -> None:
    """Station folder and file name both arrive in NFD (as from a macOS SMB client)."""
    conf = tmp_path / "test.yaml"
    conf.write_text("watch:\n  stable_seconds: 1\n  rescan_seconds: 1\n", encoding="utf-8")
    env = {**sohoa_env, "SOHOA_CONFIG": str(conf)}
    station = unicodedata.normalize("NFD", "một-cửa")
    src = small_page(802, tmp_path / "x.png")
    target = Path(env["SOHOA_INBOX"]) / station / CODE / NFD_NAME
    target.parent.mkdir(parents=True)
    shutil.copyfile(src, target)
    result = sohoa(env, "--json", "watch", "--once")
    assert result.returncode == 0, result.stderr
    (doc,) = json_lines(result.stdout)
    assert doc["status"] == "indexed" and doc["dossier_code"] == CODE, doc
    shown = json_lines(sohoa(env, "--json", "show", doc["document_id"]).stdout)[0]
    assert shown["source_name"] == "Đơn đề nghị.png"
    assert shown["station"] == "một-cửa"
    st = store.connect(load_config(env=env))
    meta = json.loads(st.get_bytes(st.archive_bucket, doc["metadata_key"]))
    assert meta["source"]["file_name"] == "Đơn đề nghị.png"
    assert meta["scan"]["station"] == "một-cửa"
