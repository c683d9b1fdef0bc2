import pytest

from qcompiler.ir.types import STORAGE_RANGES
from qcompiler.targets import TargetError, available_targets, get_target

REQUIRED = {"armv8", "armv7", "x86-avx2", "x86-vnni", "cortex-m", "generic"}


def test_all_required_targets_load_with_valid_storage():
    assert REQUIRED <= set(available_targets())
    for name in available_targets():
        t = get_target(name)
        assert t.name == name
        assert set(t.weight_storage) <= set(STORAGE_RANGES)
        assert set(t.activation_storage) <= set(STORAGE_RANGES)
        assert t.accumulator_bits in (16, 32)
        assert t.rounding in ("half_even", "half_away", "half_up")


def test_avx2_declares_pair_sum_saturation_and_vnni_does_not():
    assert get_target("x86-avx2").saturating_pair_sums
    assert not get_target("x86-vnni").saturating_pair_sums


def test_unknown_target_lists_valid_ones():
    with pytest.raises(TargetError, match=r"unknown target 'armv9' \(did you mean 'armv8'\?\); valid targets: .*cortex-m"):
        get_target("armv9")


def test_fallback_weight_type_and_cost_model():
    cm = get_target("cortex-m")
    assert not cm.supports_weight("conv2d", "i4")
    assert cm.fallback_weight("conv2d", 4) == "i8"
    arm = get_target("armv8")
    assert arm.fallback_weight("conv2d", 3) == "i4"
    assert arm.cost.mac_latency(4) < arm.cost.mac_latency(8)
    # roofline: a layer that moves a lot of bytes is memory bound
    assert arm.cost.layer_latency_ns(macs=10, bits=8, bytes_moved=1e6) == pytest.approx(1e6 / arm.cost.bytes_per_ns)


@pytest.mark.parametrize("typo, message", [
    (("half_even", "half-even"), r"rounding = 'half-even'; expected one of half_away, half_even, half_up"),
    (('storage = ["u8"]', 'storage = ["uint8"]'), r"unknown storage \['uint8'\]"),
    (('storage = ["i8"]', 'storage = ["int8"]'), r"unknown storage \['int8'\]"),
])
def test_a_misspelt_name_in_a_target_description_names_the_file(typo, message):
    from qcompiler.targets.target import _load

    from test_target_fusion import MINIMAL

    with pytest.raises(TargetError, match=r"target description 't.toml' is malformed: ValueError: " + message):
        _load("t", MINIMAL.replace(*typo))
