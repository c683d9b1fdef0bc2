"""Sizes of codebook weights: (index bits × kernels + codebook bits) / weights, shared
codebooks counted once, Huffman-coded indices with their table."""
import numpy as np
import pytest

from qcompiler.ir import CodebookType, Graph, TensorType
from qcompiler.ir.codebook import codebook_attrs
from qcompiler.passes.codebook.size import codebook_size, entropy_bits, huffman_bits


def two_layer_graph(shared: bool) -> Graph:
    g = Graph("two")
    x = g.add_input("x", TensorType("f32", (1, 4, 6, 6)))
    books = [np.zeros((4, 3, 3), np.int8), np.ones((4, 3, 3), np.int8)]
    for k, (cout, cin) in enumerate([(8, 4), (2, 8)]):
        t = CodebookType(6, 2, (3, 3), "f32", (cout, cin, 3, 3))
        w = g.constant(np.arange(cout * cin).reshape(cout, cin).astype(np.uint8) % 4, name=f"w{k}", type=t)
        w.producer.attrs.update(codebook_attrs(books[0 if shared else k], 0.5))
        x = g.add("conv2d", [x, w], {"pad": [1, 1, 1, 1]}).output
    g.set_outputs([x])
    return g


@pytest.mark.parametrize("shared", [False, True])
def test_bits_per_weight(shared):
    size = codebook_size(two_layer_graph(shared))
    kernels, weights = 8 * 4 + 2 * 8, (8 * 4 + 2 * 8) * 9
    codebook = 4 * 9 * 6 + 32  # codewords at 6 bits plus the f32 scale
    books = 1 if shared else 2
    assert size.weights == weights
    assert size.total_bits() == 2 * kernels + books * codebook
    assert size.bits_per_weight() == pytest.approx((2 * kernels + books * codebook) / weights)


def test_huffman_and_entropy_of_a_dyadic_histogram():
    counts = np.array([4, 2, 1, 1])
    # code lengths 1, 2, 3, 3; plus a 5-bit code length per codeword
    assert huffman_bits(counts) == 4 * 1 + 2 * 2 + 1 * 3 + 1 * 3 + 5 * 4
    assert entropy_bits(counts) == pytest.approx(14.0)
    assert huffman_bits(np.array([6, 0, 0, 0])) == 6 + 20  # one symbol: a 1-bit code each
    assert entropy_bits(np.array([6, 0])) == 0.0


def test_uniform_indices_do_not_compress():
    size = codebook_size(two_layer_graph(shared=False))
    assert size.bits_per_weight("huffman") > size.bits_per_weight() > size.bits_per_weight("entropy") - 1e-12
