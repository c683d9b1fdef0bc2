"""The judge of accuracy-control: a drop counts only beyond the validation noise when the
metric returns per-sample scores; one number is judged by its point estimate."""
import numpy as np
import pytest

from qcompiler.passes.accuracy.errors import AccuracyControlError
from qcompiler.passes.accuracy.significance import Judge
from qcompiler.passes.accuracy.validation import Score, as_score

FLOAT = as_score([1.0] * 20)


def test_a_drop_of_one_sample_in_twenty_is_noise_at_two_standard_errors():
    one_wrong = as_score([0.0] + [1.0] * 19)  # drop 0.05, paired sd 0.2236, 2 se 0.1
    judge = Judge(FLOAT, max_drop=0.01, significance=2.0)
    assert judge.drop(one_wrong) == pytest.approx(0.05)
    assert judge.noise(one_wrong) == pytest.approx(2 * np.sqrt(0.05 * 0.95 * 20 / 19) / np.sqrt(20))
    assert judge.within(one_wrong)
    assert not Judge(FLOAT, max_drop=0.01, significance=0.0).within(one_wrong)
    assert judge.sample_weight(one_wrong) == pytest.approx(0.05)  # a 0/1 score: one sample is 1/20
    assert judge.sample_weight(as_score([1.0] * 20)) == 0.0  # no spread seen, no resolution to speak of


def test_a_consistent_small_drop_is_significant():
    # every sample loses 0.02: no spread, so no noise to hide in
    judge = Judge(as_score(np.full(20, 0.9)), max_drop=0.01, significance=2.0)
    shifted = as_score(np.full(20, 0.88))
    assert judge.noise(shifted) == pytest.approx(0.0, abs=1e-12) and not judge.within(shifted)


def test_one_number_is_judged_by_its_point_estimate():
    judge = Judge(Score(0.9), max_drop=0.01, significance=2.0)
    assert judge.noise(Score(0.85)) == 0.0 and not judge.within(Score(0.85)) and judge.within(Score(0.895))
    assert judge.sample_weight(Score(0.85)) is None


def test_per_sample_scores_must_pair_up():
    with pytest.raises(AccuracyControlError, match="returned 19 per-sample scores for a quantized model and 20"):
        Judge(FLOAT, max_drop=0.01, significance=2.0).within(as_score([1.0] * 19))


@pytest.mark.parametrize("value, message", [
    (np.ones((2, 3)), r"array of shape \(2, 3\); per-sample scores must be a non-empty 1-D sequence"),
    ([], r"array of shape \(0,\)"),
    ([1.0, float("nan")], r"non-finite per-sample score \(sample 1\)"),
    ("0.5x", "returned str, not a number"),
])
def test_bad_metric_values_are_refused(value, message):
    with pytest.raises(AccuracyControlError, match=message):
        as_score(value)


def test_a_zero_dimensional_array_is_one_number():
    assert as_score(np.float32(0.5)) == Score(0.5) and as_score(np.array(0.25)) == Score(0.25)
