"""A planted text layer, end to end: ``sohoa process`` against a real MinIO.

Each PDF is a printed receipt with its dossier code on the page, plus one line its
text layer carries that the page does not show (another dossier code, a document
number, a 12-digit ID number, a name), drawn invisibly (rendering mode 3), in white,
at half a point, or inside a scan's Tesseract layer. The archived document must be
filed under the printed code, and the planted words must be nowhere: not in search,
not in the archived PDF's text, not in its ``.txt``, not in its metadata. Honest
layers (a clerk's "Save as PDF", a scan with an OCR layer) are still kept.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.storage import objects as store
from tests.support.cli import json_lines, sohoa
from tests.support.layered_pdf import Line, add_lines, render, tesseract_pdf, write_pdf
from tests.support.minio import MinioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PREFIX = "000.00.13.H38-261127-"
BODY = (
    "ỦY BAN NHÂN DÂN TỈNH LÀO CAI",
    "Mã hồ sơ: {code}",
    "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "Bộ phận Một cửa đã tiếp nhận hồ sơ của ông bà",
    "về việc cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Thời gian giải quyết theo quy định là mười lăm ngày",
)


@dataclass(frozen=True)
class Plant:
    """What one file's layer adds, each value unique to that file."""

    code: str
    number: str
    id_number: str
    name: str

    @property
    def line(self) -> str:
        return f"Mã hồ sơ: {self.code} Số: {self.number} CCCD {self.id_number} {self.name}"

    @property
    def marks(self) -> tuple[str, ...]:
        return (self.code, self.code[-4:], self.number, self.id_number, self.name.split()[0])


PLANTS = {
    "invisible": Plant(PREFIX + "0661", "661/QĐ-UBND", "001099006661", "Khổng Minh Tuệ"),
    "white": Plant(PREFIX + "0662", "662/QĐ-UBND", "001099006662", "Giáp Văn Khải"),
    "tiny": Plant(PREFIX + "0663", "663/QĐ-UBND", "001099006663", "Mạc Thị Bưởi"),
    "scan-layer": Plant(PREFIX + "0664", "664/QĐ-UBND", "001099006664", "Lều Đức Khoa"),
}
PRINTED = {  # the code each file shows
    "invisible": PREFIX + "0101",
    "white": PREFIX + "0102",
    "tiny": PREFIX + "0103",
    "scan-layer": PREFIX + "0104",
    "honest-born-digital": PREFIX + "0105",
    "honest-scan": PREFIX + "0106",
}


def _printed(kind: str) -> list[Line]:
    return [Line(text.format(code=PRINTED[kind]), 60, 760 - 28 * i) for i, text in enumerate(BODY)]


def _make(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.pdf"
    if kind == "honest-born-digital":
        return write_pdf(path, _printed(kind))
    if kind == "honest-scan":
        return tesseract_pdf(render(write_pdf(folder / "p.pdf", _printed(kind))), path)
    plant = PLANTS[kind].line
    if kind == "invisible":
        return write_pdf(path, [Line(plant, 60, 800, mode=3), *_printed(kind)])
    if kind == "white":
        return write_pdf(path, [Line(plant, 60, 800, rgb=(1, 1, 1)), *_printed(kind)])
    if kind == "tiny":
        return write_pdf(path, [Line(plant, 60, 800, size=0.5), *_printed(kind)])
    scan = tesseract_pdf(render(write_pdf(folder / "p.pdf", _printed(kind))), path)
    return add_lines(scan, [Line(plant, 60, 800, mode=3)])


@dataclass
class Archived:
    env: dict[str, str]
    st: store.Store
    docs: dict[str, dict]  # by kind
    work: Path

    def meta(self, kind: str) -> dict:
        return json.loads(
            self.st.get_bytes(self.st.archive_bucket, self.docs[kind]["metadata_key"])
        )

    def text(self, kind: str) -> str:
        key = self.docs[kind]["text_key"]
        return self.st.get_bytes(self.st.archive_bucket, key).decode("utf-8")

    def pdf_text(self, kind: str) -> str:
        path = self.work / f"archived-{kind}.pdf"
        path.write_bytes(self.st.get_bytes(self.st.archive_bucket, self.docs[kind]["pdf_key"]))
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True)
        return done.stdout

    def search(self, *query: str) -> list[dict]:
        done = sohoa(self.env, "--json", "search", *query)
        assert done.returncode == 0, done.stderr
        return json_lines(done.stdout)


@pytest.fixture(scope="module")
def archived(minio_server: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Archived:
    root = tmp_path_factory.mktemp("layers")
    made = root / "made"
    made.mkdir()
    files = {kind: _make(kind, made) for kind in PRINTED}
    for scratch in made.glob("p.*"):
        scratch.unlink()
    suffix = secrets.token_hex(4)
    env = {
        **minio_server.env(),
        "SOHOA_HOME": str(root / "home"),
        "SOHOA_INBOX": str(root / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-layers-{suffix}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-layers-{suffix}",
    }
    done = sohoa(env, "--json", "process", *map(str, files.values()))
    rows = {Path(r["source"]).stem: r for r in json_lines(done.stdout)}
    assert set(rows) == set(PRINTED), done.stderr
    return Archived(env, store.connect(load_config(env=env)), rows, root)


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_a_planted_layer_does_not_choose_the_dossier(archived: Archived, kind: str) -> None:
    doc = archived.docs[kind]
    assert doc["status"] == "indexed", doc
    assert doc["dossier_code"] == PRINTED[kind], doc
    assert doc["pdf_key"].startswith(f"{PRINTED[kind]}/")


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_planted_words_are_not_in_the_archived_copy(archived: Archived, kind: str) -> None:
    pdf_text, txt = archived.pdf_text(kind), archived.text(kind)
    meta = json.dumps(archived.meta(kind), ensure_ascii=False)
    assert "giấy phép xây dựng" in pdf_text and "giấy phép xây dựng" in txt
    for mark in PLANTS[kind].marks:
        assert mark not in pdf_text, (mark, pdf_text)
        assert mark not in txt, (mark, txt)
        assert mark not in meta, mark


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_planted_words_are_not_found_by_search(archived: Archived, kind: str) -> None:
    plant = PLANTS[kind]
    assert archived.search("giay phep xay dung", "--dossier", PRINTED[kind])  # search works
    for query in (plant.id_number, f'"{plant.name}"', plant.code, plant.number):
        assert archived.search(query) == [], query
    assert archived.search("--dossier", plant.code) == []


@pytest.mark.parametrize("kind", ["honest-born-digital", "honest-scan"])
def test_honest_layers_are_still_kept(archived: Archived, kind: str) -> None:
    doc = archived.docs[kind]
    assert doc["status"] == "indexed" and doc["dossier_code"] == PRINTED[kind], doc
    assert archived.meta(kind)["ocr"]["text_source"] == ["pdf"]
    assert f"Mã hồ sơ: {PRINTED[kind]}" in archived.text(kind)
