"""The rendered text lines and the rapidocr-style scoring used by the OCR benchmark."""
import numpy as np
import pytest

from qcompiler.testing.ctc_recognizer import (batches, ctc_decode, dictionary, edit_distance, rec_model_path,
                                              recognize, score)
from qcompiler.testing.text_lines import text_lines

pytest.importorskip("rapidocr_onnxruntime")


@pytest.fixture(scope="module")
def chars():
    return dictionary(rec_model_path())


def test_dictionary_has_blank_first_and_space_last(chars):
    assert len(chars) == 6625  # the rec model's output classes
    assert chars[0] == "<blank>" and chars[-1] == " " and "A" in chars and "%" in chars


def test_lines_are_reproducible_and_spelled_with_the_dictionary(chars):
    a, b = text_lines(6, seed=3, dictionary=chars), text_lines(6, seed=3, dictionary=chars)
    assert [x.text for x in a] == [y.text for y in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert [x.text for x in a] != [x.text for x in text_lines(6, seed=4, dictionary=chars)]
    for line in a:
        assert set(line.text) <= set(chars)
        h, w, c = line.image.shape
        assert c == 3 and 24 <= h <= 80 and w > h


def test_batches_pad_to_the_widest_line_and_at_least_320():
    narrow, wide = np.zeros((40, 40, 3), np.uint8), np.zeros((40, 800, 3), np.uint8)
    (b1, i1), = batches([narrow], batch_size=8)
    assert b1.shape == (1, 3, 48, 320) and i1 == [0]
    (b2, i2), = batches([wide, narrow], batch_size=8)
    assert b2.shape == (2, 3, 48, 960) and i2 == [1, 0]  # sorted by aspect ratio


def test_ctc_decode_merges_repeats_and_drops_blanks():
    chars = ["<blank>", "a", "b"]
    steps = [1, 1, 0, 1, 2, 2, 0]
    probs = np.eye(3)[steps][None]
    assert ctc_decode(probs, chars) == ["aab"]
    assert edit_distance("kitten", "sitting") == 3
    assert score(["ab", "x"], ["ab", "y"]) == {"line_acc": 0.5, "cer": pytest.approx(1 / 3)}


def test_fp32_model_reads_most_lines(chars):
    import onnxruntime as ort

    session = ort.InferenceSession(str(rec_model_path()), providers=["CPUExecutionProvider"])
    lines = text_lines(16, seed=2, dictionary=chars)
    texts = recognize(lambda x: session.run(None, {"x": x})[0], [x.image for x in lines], chars)
    result = score(texts, [x.text for x in lines])
    # fp32 reads ~85% of such lines exactly (O/0 confusions in capitals are most misses)
    assert result["line_acc"] >= 0.6 and result["cer"] < 0.05, result
