"""A deeper digits CNN: seven quantizable layers of different shapes and depths, enough
for per-layer rankings (sensitivity metrics, bit allocation) to mean something.
Trained in a few seconds on scikit-learn's digits; deterministic per seed."""
from __future__ import annotations

import torch.nn as nn

from .zoo import digits_data, train_on_digits


class DeepDigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def train_deep_digits_cnn(epochs: int = 8, seed: int = 0) -> DeepDigitsCNN:
    """A DeepDigitsCNN trained on digits_data() (about 98% test accuracy), in eval mode.
    Training runs once per (epochs, seed); each call returns a fresh copy."""
    return train_on_digits(DeepDigitsCNN, epochs=epochs, seed=seed, lr=5e-3)


def deep_digits_setup() -> tuple:
    """(the trained DeepDigitsCNN imported with a dynamic batch, four labelled (x, y)
    batches of 64 training digits for calibration/sensitivity, x_test, y_test as numpy)."""
    from ..frontends.fx import import_module

    x_train, y_train, x_test, y_test = digits_data()
    graph = import_module(train_deep_digits_cnn(), x_train[:4], dynamic_batch=True)
    batches = [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, 256, 64)]
    return graph, batches, x_test.numpy(), y_test.numpy()
