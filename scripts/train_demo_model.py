"""Regenerate qcompiler/data/digits_cnn.npz, the weights `qcompiler demo` ships with.

    python scripts/train_demo_model.py [--out qcompiler/data/digits_cnn.npz]

Trains qcompiler.testing.zoo.DigitsCNN on scikit-learn's digits (train_digits_cnn: fixed
seed, one thread, so the same weights every run) and stores its state dict as plain
arrays (no pickle), then checks that the stored weights reproduce the model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from qcompiler.cli.demo import WEIGHTS, load_demo_model
from qcompiler.testing.zoo import accuracy, digits_data, train_digits_cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where to write the .npz")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = train_digits_cnn()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    np.savez_compressed(args.out, **state)
    _, _, x_test, y_test = digits_data()
    reloaded = load_demo_model(args.out)
    assert accuracy(reloaded, x_test, y_test) == accuracy(model, x_test, y_test)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes); "
          f"test accuracy {100 * accuracy(model, x_test, y_test):.1f}%")


if __name__ == "__main__":
    main()
