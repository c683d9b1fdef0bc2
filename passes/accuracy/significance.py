"""When a drop counts: the metric's drop from the float model, judged against the noise of
the validation set.

On a small validation set a coarse metric moves in steps of one sample (one text line of
24 is 4.2 points of exact-line accuracy), so a search comparing point estimates with
max_drop chases those steps: on PP-OCRv4 rec it kept 16 layers float that validation
preferred and the test lines read worse than plain int8. When the metric returns
per-sample scores, a drop exceeds max_drop only when it does so by more than
`significance` standard errors of the paired per-sample differences from the float
model (a paired z test, one-sided); per-sample scores also give one sample's weight, the
most a single sample can move the mean, which max_drop should exceed. A metric returning
one number is judged by its point estimate, as NNCF's is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import AccuracyControlError
from .validation import Score


@dataclass(frozen=True)
class Judge:
    reference: Score  # the float model's
    max_drop: float
    significance: float  # standard errors; 0: point estimates only

    def drop(self, score: Score) -> float:
        return self.reference.value - score.value

    def noise(self, score: Score) -> float:
        """`significance` standard errors of the mean paired difference (0 without per-sample scores)."""
        differences = self._differences(score)
        if differences is None or differences.size < 2 or self.significance == 0:
            return 0.0
        return self.significance * float(differences.std(ddof=1)) / math.sqrt(differences.size)

    def within(self, score: Score) -> bool:
        return self.drop(score) <= self.max_drop + self.noise(score)

    def sample_weight(self, score: Score) -> Optional[float]:
        """What one validation sample can move the mean: the spread of the per-sample scores
        of the float model and `score`'s, over the number of samples."""
        if self._differences(score) is None:
            return None
        seen = np.concatenate((self.reference.samples, score.samples))
        return float(seen.max() - seen.min()) / score.samples.size

    def _differences(self, score: Score) -> Optional[np.ndarray]:
        if self.reference.samples is None or score.samples is None:
            return None
        if score.samples.shape != self.reference.samples.shape:
            raise AccuracyControlError(f"the validation metric returned {score.samples.size} per-sample scores for a "
                                       f"quantized model and {self.reference.samples.size} for the float one; paired "
                                       "comparisons need one score per sample, in the same order")
        return self.reference.samples - score.samples
