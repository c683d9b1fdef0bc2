"""The conditional generator of ZS-CGAN: noise and a class label -> one input sample.

A label embedding multiplies the noise (the label conditions every feature), a linear
layer makes a quarter-resolution map, and two upsample-conv stages reach the input size
(any H, W: the stages interpolate to exact sizes). The last BatchNorm has a learnt scale
and shift, so the samples take whatever per-channel range the model's inputs had.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ConditionalGenerator(nn.Module):
    def __init__(self, classes: int, shape: tuple, noise: int = 64, width: int = 32):
        super().__init__()
        channels, height, width_px = shape
        self.noise = noise
        self.start = (math.ceil(height / 4), math.ceil(width_px / 4))
        self.middle = (math.ceil(height / 2), math.ceil(width_px / 2))
        self.size = (height, width_px)
        self.width = width
        self.embed = nn.Embedding(classes, noise)
        self.project = nn.Linear(noise, 2 * width * self.start[0] * self.start[1])
        self.norm0 = nn.BatchNorm2d(2 * width)
        self.stage1 = _stage(2 * width, 2 * width)
        self.stage2 = _stage(2 * width, width)
        self.out = nn.Sequential(nn.Conv2d(width, channels, 3, padding=1), nn.Tanh(), nn.BatchNorm2d(channels))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(self.embed(labels) * z).view(-1, 2 * self.width, *self.start)
        h = self.stage1(nn.functional.interpolate(self.norm0(h), size=self.middle, mode="nearest"))
        h = self.stage2(nn.functional.interpolate(h, size=self.size, mode="nearest"))
        return self.out(h)


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))
