import unicodedata

from pipeline.lang.textnorm import fold, has_diacritics, nfc


def test_nfc_composes_decomposed_input():
    decomposed = unicodedata.normalize("NFD", "Quyết định")
    assert decomposed != "Quyết định"
    assert nfc(decomposed) == "Quyết định"


def test_fold_strips_marks_and_maps_d_bar():
    assert fold("Đơn đề nghị cấp Giấy phép xây dựng") == "Don de nghi cap Giay phep xay dung"
    assert fold(unicodedata.normalize("NFD", "ĐỒNG")) == "DONG"


def test_has_diacritics():
    assert has_diacritics("giấy")
    assert has_diacritics("đi")
    assert not has_diacritics("giay phep")


def test_eth_that_ocr_prints_for_d_with_stroke_becomes_the_vietnamese_letter() -> None:
    from pipeline.lang.textnorm import fold, vietnamese_letters

    fixed = vietnamese_letters("GD&\u00d0T, \u00d0/c Lan, su\u00f0i")
    assert fixed == "GD&ĐT, Đ/c Lan, suđi"
    assert fold(fixed) == "GD&DT, D/c Lan, sudi"  # what search matches
    assert vietnamese_letters("Đà Nẵng") == "Đà Nẵng"
