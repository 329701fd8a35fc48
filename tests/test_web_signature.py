"""The signature on the web: "Đã ký số" and the verdict beside each listed document, each
object version verified once (cached by ETag), on the dossier page and the results page,
behind the login gate (records staff see it; a stranger sees neither it nor a check run)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.config import load_config
from pipeline.errors import StorageUnavailable
from pipeline.sign import sign_pdf
from pipeline.storage.index import SqliteIndex
from pipeline.storage.objects import ObjectInfo
from tests.support.web import fast_users, login
from tests.test_search_minio import archive_meta
from workers.web.app import create_app
from workers.web.signature import SignatureChecker

CODE = "000.00.13.H38-261127-0401"


class MemoryArchive:
    """The archive bucket in memory, counting what the checker asks of it."""

    archive_bucket = "archive"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.stats = self.downloads = 0
        self.down = False

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        self.stats += 1
        if self.down:
            raise StorageUnavailable("storage at 127.0.0.1:9 unreachable")
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(len(data), {}, hashlib.md5(data).hexdigest())

    def download(self, bucket: str, key: str, dest: Path) -> None:
        self.downloads += 1
        dest.write_bytes(self.objects[key])

    def presigned_url(self, bucket: str, key: str, expires_seconds: int) -> str:
        return f"http://minio.invalid/{bucket}/{key}"


@pytest.fixture(scope="module")
def files(tmp_path_factory, archived: Path, p12_tsa_signer) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("web-signed")
    sign_pdf(p12_tsa_signer, archived, folder / "signed.pdf")
    signed = (folder / "signed.pdf").read_bytes()
    tampered = bytearray(signed)
    tampered[len(tampered) // 2] ^= 0x01
    return {"signed": signed, "unsigned": archived.read_bytes(), "tampered": bytes(tampered)}


@pytest.fixture
def cfg(tmp_path: Path, trust: Path):
    return load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_SIGN_TRUST": str(trust)})


def key(n: int) -> str:
    return f"{CODE}/{CODE}.{n}.pdf"


def test_badges_say_signed_unsigned_invalid_or_unknown(cfg, files) -> None:
    archive = MemoryArchive()
    for n, name in enumerate(("signed", "unsigned", "tampered"), start=1):
        archive.put(key(n), files[name])
    checker = SignatureChecker(cfg, lambda: archive)
    badges = checker.badges([key(1), key(2), key(3), key(4), None])
    assert [b.state for b in badges.values()] == ["valid", "unsigned", "invalid", "unknown"]
    signed = badges[key(1)]
    assert signed.label == "Đã ký số" and signed.level == "PAdES-B-T"
    assert signed.verdict.startswith("Hợp lệ: Chữ ký số hợp lệ của Ủy ban nhân dân")
    assert signed.agency == "Ủy ban nhân dân tỉnh Lào Cai" and signed.signed_at.endswith("+07:00")
    assert badges[key(2)].label == "Chưa ký số"
    assert badges[key(3)].label == "Chữ ký số không hợp lệ"
    assert badges[key(3)].verdict.startswith("Không hợp lệ: ")
    assert "không còn trong kho" in badges[key(4)].verdict


def test_each_object_version_is_verified_once(cfg, files) -> None:
    archive = MemoryArchive()
    archive.put(key(1), files["unsigned"])
    archive.put(key(2), files["signed"])
    checker = SignatureChecker(cfg, lambda: archive)
    hits = [key(1 + i % 2) for i in range(50)]  # a page of 50 hits on two documents
    for _ in range(3):
        badges = checker.badges(hits)
    assert checker.verified == 2 and archive.downloads == 2
    # first view: the PDF before and after, its metadata; later views: the PDF and metadata
    assert archive.stats <= 2 * 3 + 2 * 2 * 2
    # `sohoa sign --pending` writes a new version: its ETag differs, so it is checked again
    archive.put(key(1), files["signed"])
    badges = checker.badges(hits)
    assert checker.verified == 3 and badges[key(1)].state == "valid"


def test_storage_down_is_tried_once_per_page(cfg) -> None:
    archive = MemoryArchive()
    archive.down = True
    badges = SignatureChecker(cfg, lambda: archive).badges(key(n) for n in range(1, 21))
    assert archive.stats == 1
    assert {b.state for b in badges.values()} == {"unknown"}
    assert "Không kiểm tra được chữ ký" in badges[key(5)].verdict


def test_dossier_and_results_pages_show_the_verdict(cfg, files, tmp_path) -> None:
    archive = MemoryArchive()
    archive.put(key(1), files["signed"])
    archive.put(key(2), files["unsigned"])
    index = SqliteIndex(tmp_path / "index.sqlite")
    for n in (1, 2):
        index.index_document(archive_meta(CODE, n, "motcua-01", None, 1), ["giấy phép xây dựng"])
    index.close()
    app = create_app(
        cfg,
        lambda c: archive,
        lambda c: SqliteIndex(tmp_path / "index.sqlite"),
        users=fast_users(cfg),
    )
    with TestClient(app, follow_redirects=False) as client:
        anon = client.get(f"/dossier/{CODE}")
        assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=")
        assert "ký số" not in anon.text and archive.stats == 0  # nothing checked for a stranger
        assert login(client, "lan").status_code == 303  # records staff: the least role
        for _ in range(3):
            page = client.get(f"/dossier/{CODE}")
            assert page.status_code == 200
        assert page.text.count("Đã ký số") == 1 and page.text.count("Chưa ký số") == 1
        assert "Hợp lệ: Chữ ký số hợp lệ của Ủy ban nhân dân tỉnh Lào Cai" in page.text
        assert "Valid" not in page.text and "Not signed" not in page.text  # one wording
        results = client.get("/search", params={"q": "giay phep"})
        assert results.status_code == 200
        assert "Đã ký số" in results.text and "Chưa ký số" in results.text
    assert archive.downloads == 2  # three dossier views and a search: each version checked once
