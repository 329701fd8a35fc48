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
