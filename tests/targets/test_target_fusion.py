"""`[fusion] pairs` in a target description: which layer pairs it runs as one kernel."""
import pytest

from qcompiler.targets import TargetError, get_target
from qcompiler.targets.target import _load

MINIMAL = """
name = "t"
description = "test"
accumulator_bits = 32
rounding = "half_even"
default_pipeline = "quantize"
weights = { storage = ["i8"], symmetric = true, granularity = ["channel"] }
activations = { storage = ["u8"], symmetric = false }
cost = { bytes_per_ns = 1.0, mac_ns = { 8 = 1.0 } }
"""


def test_arm_targets_fuse_depthwise_pointwise_pairs_and_others_do_not():
    assert get_target("armv8").fuses("depthwise-pointwise") and get_target("cortex-m").fuses("depthwise-pointwise")
    assert not get_target("generic").fuses("depthwise-pointwise")
    assert _load("t", MINIMAL).fusion_pairs == ()


@pytest.mark.parametrize("fusion, message", [
    ('[fusion]\npairs = ["conv-conv"]', r"\['conv-conv'\] are unknown; known pairs: depthwise-pointwise"),
    ('[fusion]\npairs = "depthwise-pointwise"', r"pairs = 'depthwise-pointwise' is not a list"),
])
def test_a_malformed_fusion_table_names_the_file(fusion, message):
    with pytest.raises(TargetError, match=r"target description 't.toml' is malformed: ValueError: .*" + message):
        _load("t", MINIMAL + fusion)
