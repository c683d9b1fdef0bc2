import math

import pytest

from qcompiler.instruments import NumericsCheck
from qcompiler.passmanager import PassContext, PassError, PassManager, make_pass


def test_a_perturbed_weight_is_blamed_on_its_pass_and_layer(net, sample, perturb_weight):
    check = NumericsCheck(sample, threshold_db=40.0)
    ctx = PassContext()
    PassManager([make_pass("fold-bn"), perturb_weight, make_pass("dce")], instruments=[check]).run(net, ctx)
    fold, perturb, dce = check.records
    assert fold.first_bad_layer is None and min(fold.layers_db.values()) > 100 and fold.outputs_db[0] > 100
    assert perturb.first_bad_layer == "conv2" and perturb.outputs_db[0] < 40
    assert dce.outputs_db == [math.inf]
    [warning] = ctx.diagnostics
    assert warning.pass_name == "perturb-weight" and warning.node == "conv2"
    assert "pass 'perturb-weight' lost accuracy" in warning.message and "%conv2" in warning.message


def test_the_first_layer_that_drops_is_named_not_the_worst(net, sample, perturb_weight):
    check = NumericsCheck(sample)
    PassManager([perturb_weight.__class__(weight="w1")], instruments=[check]).run(net)
    [record] = check.records
    assert record.first_bad_layer == "conv1"               # bn1, relu1 and conv2 follow it
    assert list(record.layers_db)[:2] == ["conv1", "bn1"]


def test_strict_mode_stops_the_pipeline(net, sample, perturb_weight):
    pm = PassManager([make_pass("fold-bn"), perturb_weight, make_pass("dce")],
                     instruments=[NumericsCheck(sample, strict=True)])
    with pytest.raises(PassError, match=r"pass 'perturb-weight' failed \(after: fold-bn\).*first at layer %conv2"):
        pm.run(net)


def test_table_has_a_row_per_pass(net, sample, perturb_weight):
    check = NumericsCheck(sample)
    PassManager([make_pass("fold-bn"), perturb_weight], instruments=[check]).run(net)
    lines = check.table().splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["fold-bn", "perturb-weight"]
    assert "%conv2" in lines[2]
