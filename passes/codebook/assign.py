"""Activation-aware assignment: a kernel goes to the codeword that changes the layer's
output least on the data, not the one nearest in weight space.

Kernel (o, c) of a convolution multiplies the k×k patches of input channel c, so
replacing it by codeword q changes output o by (w - q)·patch; its mean square is
(w - q)ᵀ H_c (w - q) with H_c = E[patch patchᵀ], the patch second moment of channel c
(cross-channel terms are left out: each kernel is assigned on its own).
"""
from __future__ import annotations

import numpy as np
import torch

from qcompiler.ir.core import Graph
from qcompiler.ir.ops.spatial import pads_attr, torch_pad_list
from qcompiler.runtime.reference import run_graph


def patch_moments(graph: Graph, names: list, batches: list) -> dict:
    """Weight value name -> H [Cin, k, k] (k = kh·kw) summed over the convolutions using
    it, from the inputs those convolutions see when `graph` runs on `batches`."""
    moments: dict = {}
    for inputs in batches:
        _, env = run_graph(graph, [x.numpy() for x in inputs], keep=True)
        for name in names:
            for conv in graph.find(name).users:
                h = _moment(conv, torch.from_numpy(np.asarray(env[conv.inputs[0].name], np.float32)))
                moments[name] = moments.get(name, 0) + h
    return moments


def _moment(conv, x: torch.Tensor) -> np.ndarray:
    w_shape = conv.inputs[1].type.shape
    spatial = len(w_shape) - 2
    if spatial == 1:
        x = x[:, :, None, :]
    kernel = (1,) * (2 - spatial) + tuple(w_shape[2:])
    begin, end = pads_attr(conv.attrs.get("pad"), spatial, f"node {conv.label()}")
    pads = torch_pad_list((0,) * (2 - spatial) + tuple(begin), (0,) * (2 - spatial) + tuple(end))
    stride = (1,) * (2 - spatial) + tuple(conv.attrs.get("stride") or (1,) * spatial)
    dilation = (1,) * (2 - spatial) + tuple(conv.attrs.get("dilation") or (1,) * spatial)
    patches = torch.nn.functional.unfold(torch.nn.functional.pad(x, pads), kernel, dilation=dilation, stride=stride)
    n, c = x.shape[:2]
    k = kernel[0] * kernel[1]
    p = patches.reshape(n, c, k, -1).permute(1, 0, 3, 2).reshape(c, -1, k).double()
    return (p.transpose(1, 2) @ p).numpy() / p.shape[1]


def weighted_nearest(kernels: np.ndarray, codewords: np.ndarray, moments: np.ndarray, groups: int) -> np.ndarray:
    """kernels [Cout, Cin/g, k], codewords [K, k], moments [Cin, k, k] -> indices [Cout, Cin/g]."""
    cout, cin_g, k = kernels.shape
    channel = (np.arange(cout)[:, None] // (cout // groups)) * cin_g + np.arange(cin_g)[None, :]
    diff = kernels[:, :, None, :] - codewords[None, None, :, :]  # [Cout, Cin/g, K, k]
    h = moments[channel]  # [Cout, Cin/g, k, k]
    cost = np.einsum("ocqi,ocij,ocqj->ocq", diff, h, diff)
    return np.argmin(cost, axis=-1)
