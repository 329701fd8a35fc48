import numpy as np
import pytest
import segno

from pipeline.dossier import codes
from pipeline.dossier.qr import decode_codes


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("000.00.13.H38-261127-0001", "000.00.13.H38-261127-0001"),
        ("  000.00.13.h38-261127-0001 \n", "000.00.13.H38-261127-0001"),
        ("H38-261127-1234567", "H38-261127-1234567"),
        ("G12.1.2.3.4-240101-0042", "G12.1.2.3.4-240101-0042"),
    ],
)
def test_valid_codes_are_normalised(raw, expected):
    assert codes.normalize_code(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "../000.00.13.H38-261127-0001",
        "000.00.13.H38-261127-0001/..",
        "000/00.13.H38-261127-0001",
        "000.00.13.H38-261127-001",  # 3-digit sequence
        "000.00.13.H38-261127-12345678",  # 8-digit sequence
        "000.00.13.H38-2611270-0001",
        "0000.00.13.H38-261127-0001",  # group of 4
        "1.2.3.4.5.6-261127-0001",  # 6 groups
        "000.00.13.H38 261127 0001",
        "000.00.13.Hà-261127-0001",
        "000.00.13.H38-261127-0001; rm -rf /",
        "..",
    ],
)
def test_invalid_codes_are_refused(raw):
    assert codes.normalize_code(raw) is None


def test_received_date():
    assert codes.received_date("000.00.13.H38-261120-0001") == "2026-11-20"
    assert codes.received_date("000.00.13.H38-261340-0001") is None


def test_code_from_filename_needs_the_double_underscore_prefix():
    assert (
        codes.code_from_filename("000.00.13.H38-261127-0002__ho so.pdf")
        == "000.00.13.H38-261127-0002"
    )
    assert codes.code_from_filename("000.00.13.H38-261127-0002.pdf") is None
    assert codes.code_from_filename("../x__y.pdf") is None


def test_code_from_text_reads_the_label_with_or_without_diacritics():
    text = "GIẤY TIẾP NHẬN HỒ SƠ\nMã hồ sơ: 000.00.13.H38-261127-0003\nNgười nộp: Phạm Văn Anh"
    assert codes.code_from_text(text) == "000.00.13.H38-261127-0003"
    assert codes.code_from_text("Ma ho so 000.00.13.H38-261127-0004") == "000.00.13.H38-261127-0004"
    assert codes.code_from_text("Số: 263/KH-UBND, 000.00.13.H38-261127-0004") is None


def test_resolve_order_folder_then_filename_then_qr_then_text():
    folder = "000.00.13.H38-261127-0001"
    name = "000.00.13.H38-261127-0002__a.pdf"
    qr = ["000.00.13.H38-261127-0003"]
    text = "Mã hồ sơ: 000.00.13.H38-261127-0004"
    assert codes.resolve(folder, name, qr, text) == codes.DossierMatch(folder, "folder")
    assert codes.resolve("scans", name, qr, text).source == "filename"
    assert codes.resolve("scans", "a.pdf", qr, text).source == "qr"
    assert codes.resolve("scans", "a.pdf", [], text).code.endswith("0004")
    assert codes.resolve("scans", "a.pdf", ["http://x/?q=../.."], "nothing") is None
    assert (
        codes.resolve("..", "a.pdf", [], "", explicit="000.00.13.H38-261127-0009").source
        == "assigned"
    )


def test_decode_codes_reads_a_qr_at_the_top_left():
    code = "000.00.13.H38-261127-0005"
    qr = segno.make(code, error="m")
    matrix = np.array([[0 if dark else 255 for dark in row] for row in qr.matrix], dtype=np.uint8)
    big = np.kron(matrix, np.ones((8, 8), dtype=np.uint8))
    big = np.pad(big, 32, constant_values=255)
    page = np.full((3508, 2480), 255, dtype=np.uint8)
    page[120 : 120 + big.shape[0], 150 : 150 + big.shape[1]] = big
    assert code in decode_codes(page)
    assert codes.code_from_payloads(decode_codes(page)) == code
