import pytest

from qcompiler.instruments import VerifyEach
from qcompiler.ir import VerifyError
from qcompiler.passmanager import PassError, PassManager, make_pass


def test_a_pass_that_breaks_ssa_is_named(net, break_ssa):
    pm = PassManager([make_pass("fold-bn"), break_ssa, make_pass("dce")], instruments=[VerifyEach()])
    with pytest.raises(PassError) as err:
        pm.run(net)
    message = str(err.value)
    assert "after pass 'break-ssa'" in message and "SSA" in message and "(after: fold-bn)" in message
    assert [r.name for r in pm.history] == ["fold-bn"]


def test_valid_pipelines_pass_and_an_invalid_input_is_reported_as_such(net):
    PassManager("fold-bn,fuse-activations,dce", instruments=[VerifyEach()]).run(net)
    net.nodes[-1].output.name = "x"
    with pytest.raises(VerifyError, match="the input graph does not verify"):
        PassManager("dce", instruments=[VerifyEach()]).run(net)
