"""The benchmark model: a small three-stage ResNet (BN, ~78k parameters) trained on the
4,000 training digits of mnist5k.npz with a fixed seed and schedule."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

MEAN, STD = 0.1307, 0.3081


def load_mnist5k(path: Path) -> dict:
    """Normalized float32 images (N, 1, 28, 28) and labels, split as the data README says."""
    data = np.load(path)
    x = ((data["x"].astype(np.float32) / 255.0 - MEAN) / STD)[:, None]
    train, test = data["train_idx"], data["test_idx"]
    return {"x_train": x[train], "y_train": data["y"][train], "x_test": x[test], "y_test": data["y"][test]}


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the (projected when the shape changes) input, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        projected = stride != 1 or cin != cout
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if projected else nn.Identity())
        self.relu2 = nn.ReLU()

    def forward(self, x):
        return self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))) + self.shortcut(x))


class SmallResNet(nn.Module):
    """28×28 → 16 channels at 28×28, 32 at 14×14, 64 at 7×7 → global average → 10 logits."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stages = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def train_resnet(x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0, batch: int = 64) -> SmallResNet:
    """AdamW with a one-cycle schedule; the seed fixes initialization and batch order."""
    torch.manual_seed(seed)
    model = SmallResNet()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps = (len(x) + batch - 1) // batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * steps)
    order = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        for start in range(0, len(x), batch):
            idx = perm[start:start + batch]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()
