"""QBitOpt's Fisher sensitivity: each narrower width scores worse, the score scales with
the Fisher, and a weight no loss depends on costs nothing."""
import pytest
import torch

from qcompiler.passes.qat.qbitopt import qbitopt_scores


def candidates(w: torch.Tensor, widths=(2, 3, 4, 8)) -> dict:
    largest = float(w.abs().max())
    return {b: (torch.tensor(largest / (2 ** (b - 1) - 1)), -(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in widths}


def test_scores_fall_with_width_and_scale_with_the_fisher():
    w = torch.randn(8, 32, generator=torch.Generator().manual_seed(0))
    fisher = torch.rand(8, 32, generator=torch.Generator().manual_seed(1)).double()
    scores = qbitopt_scores(fisher, w, candidates(w))
    assert scores[2] > 4 * scores[3] > 0 and scores[3] > scores[4] > 100 * scores[8]
    doubled = qbitopt_scores(2 * fisher, w, candidates(w))
    assert all(doubled[b] == pytest.approx(2 * scores[b]) for b in scores)
    # a weight nobody's loss depends on costs nothing at any width
    assert set(qbitopt_scores(torch.zeros_like(fisher), w, candidates(w)).values()) == {0.0}

