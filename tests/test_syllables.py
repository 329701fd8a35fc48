"""Vietnamese syllable validity by phonotactics (pipeline.lang.syllables)."""

from __future__ import annotations

import unicodedata

import pytest

from pipeline.lang.syllables import (
    all_syllables,
    canonical,
    invalid_share,
    is_abbreviation,
    is_valid_syllable,
    skeleton_index,
    strip_punct,
)

VALID_TEXT = """
a à ả ê ơ ý y ăn ở im ích yêu yên uống ước
quyết quốc quý quỳnh quýt qua quê quen quần quơ
gì gìn giết giếng già giữa giường
nghĩa nghe nghiêng ghi ghế kỹ kĩ kia kiến cua của
ngoài người khuya khuỷu thuở xoáy ngoặc khoét nhoẻn tuyển luật khuấy huỳnh
hòa hoà thủy thuỷ khỏe khoẻ
tốt kết số phố bổ thể bầu đổi chống úng Kế
phó phô sông đông đê tông
rượu nước trường đường xoong
QUYẾT ĐỊNH CỘNG HÒA ĐỘC LẬP Nguyễn Đà Nẵng
"""

INVALID_TEXT = """
QUYÉT tôt kêt quôc chât bằu tíng
ce ki̇ ngi ge ghu kho̊
iêu tyên yêt̃ ă â ăng̀
hóan tóan múôn quó
qo quu cuy coa
ph ng tr nh kh
tốtt ư̆
"""

VALID = VALID_TEXT.split()
INVALID = INVALID_TEXT.split()
FOREIGN = ["file", "jazz", "web", "zalo", "Müller", "ñandú", "façade"]


@pytest.mark.parametrize("word", VALID)
def test_valid_syllables(word: str) -> None:
    assert is_valid_syllable(word)


@pytest.mark.parametrize("word", INVALID)
def test_invalid_syllables(word: str) -> None:
    assert not is_valid_syllable(word)


@pytest.mark.parametrize("word", FOREIGN)
def test_foreign_letters_are_not_syllables(word: str) -> None:
    assert not is_valid_syllable(word)


def test_stop_codas_only_take_sac_or_nang() -> None:
    for tone in ("", "\u0300", "\u0309", "\u0303"):
        assert not is_valid_syllable(unicodedata.normalize("NFC", "tô" + tone + "t"))
    assert is_valid_syllable("tốt")
    assert is_valid_syllable("tột")


def test_nfd_input_is_accepted() -> None:
    assert is_valid_syllable(unicodedata.normalize("NFD", "QUYẾT"))


def test_rules_accept_almost_all_of_debian_hunspell_vi() -> None:
    """hunspell-vi lists ~6,600 Vietnamese syllables; the rules must not reject real words."""
    from pathlib import Path

    dic = Path("/usr/share/hunspell/vi_VN.dic")
    if not dic.exists():
        pytest.skip("hunspell-vi not installed")
    words = [unicodedata.normalize("NFC", w.strip()) for w in dic.read_text("utf-8").split()[1:]]
    lower = [w for w in words if w.islower() and w.isalpha()]
    rejected = [w for w in lower if not is_valid_syllable(w)]
    assert len(lower) > 6000
    assert len(rejected) / len(lower) < 0.005, rejected


def test_inventory_contains_every_valid_syllable_once_per_placement() -> None:
    inventory = all_syllables()
    assert 12000 < len(inventory) < 25000
    assert all(is_valid_syllable(s) for s in list(inventory)[:2000])
    assert skeleton_index()["quyet"] == ("quyết", "quyệt")


def test_canonical_unifies_tone_placement() -> None:
    assert canonical("hoà") == canonical("hòa") == "hòa"
    assert canonical("THUỶ") == "THỦY"
    assert canonical("tốt") == "tốt"
    assert canonical("QUYÉT") == "QUYÉT"  # invalid: left as is


def test_invalid_share_ignores_codes_numbers_abbreviations_and_foreign_words() -> None:
    words = [
        "QUYÉT",
        "ĐỊNH",
        "UBND",
        "263/KH-UBND",
        "2019",
        "THPT",
        "file",
        "tôt,",
        "kêt",
        "—",
        "a)",
    ]
    # counted: QUYÉT, ĐỊNH, tôt, kêt → three invalid of four
    assert invalid_share(words) == pytest.approx(0.75)
    assert invalid_share([]) == 0.0
    assert invalid_share(["12", "/", "email@x.vn"]) == 0.0


def test_abbreviations() -> None:
    assert is_abbreviation("UBND")
    assert is_abbreviation("HĐND")
    assert is_abbreviation("SV")
    assert is_abbreviation("b")
    assert not is_abbreviation("QUYÉT")
    assert not is_abbreviation("tôt")


def test_strip_punct() -> None:
    assert strip_punct("“QUYÉT:") == ("“", "QUYÉT", ":")
    assert strip_punct("263/KH-UBND,") == ("", "263/KH-UBND", ",")
    assert strip_punct("...") == ("...", "", "")


def test_stored_skeleton_index_matches_the_rules() -> None:
    """The data file is what the rules give: regenerate it with scripts/build_language_data.py."""
    from pipeline.lang.syllables import SKELETON_FILE, build_skeleton_index

    assert SKELETON_FILE.is_file()
    assert skeleton_index() == build_skeleton_index()
