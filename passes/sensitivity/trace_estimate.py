"""One layer's Hutchinson estimate of the trace of the mean loss's Hessian block over a
fixed set of batches, and when it is precise enough.

Each probe's value on batch k is an unbiased sample of that batch's (share-scaled) trace,
so the estimate is the mean over batches of each batch's mean: the trace over exactly the
measured samples, whatever the number of visits per batch. Its error is the probes' noise
only: how much the batches' traces differ is a property of the data, not an error of the
estimate (counting it, as a variance of round means does, kept a ResNet18's layers probing
for the spread of 16-image batches). The probe noise is the pooled variance of the probes
within each round, which share one batch.
"""
from __future__ import annotations

import math


class TraceEstimate:
    def __init__(self, batches: int):
        self.sums, self.counts = [0.0] * batches, [0] * batches
        self.squares, self.dof, self.rounds, self.probes = 0.0, 0, 0, 0

    def add(self, batch: int, values: list) -> None:
        """The probe values of one round on `batch`."""
        mean = sum(values) / len(values)
        self.sums[batch] += sum(values)
        self.counts[batch] += len(values)
        self.squares += sum((x - mean) ** 2 for x in values)
        self.dof += len(values) - 1
        self.rounds += 1
        self.probes += len(values)

    @property
    def mean(self) -> float:
        """Over the batches probed so far (all of them once `settled` can be true)."""
        seen = [s / c for s, c in zip(self.sums, self.counts) if c]
        return sum(seen) / len(seen)

    def settled(self, tol: float) -> bool:
        """Every batch probed, and the standard error below `tol` × the estimate's magnitude."""
        if self.dof == 0 or not all(self.counts):
            return False
        variance = self.squares / self.dof
        standard_error = math.sqrt(variance * sum(1 / c for c in self.counts)) / len(self.counts)
        return standard_error <= tol * abs(self.mean)
