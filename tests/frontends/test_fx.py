"""The torch frontend on whole models: faithfulness, dynamic batch, weight origins,
capture fallback, error messages and the text round trip."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from fx_helpers import assert_faithful, import_and_check

from qcompiler.frontends.fx import import_module
from qcompiler.ir import FrontendError
from qcompiler.ir.equality import graph_diff
from qcompiler.ir.parser import parse
from qcompiler.ir.printer import print_graph
from qcompiler.testing import zoo



@pytest.fixture(scope="module")
def models():
    _, _, x_test, _ = zoo.digits_data()
    return {"digits": (zoo.train_digits_cnn(), (x_test[:16],)),
            "mobilenet": zoo.mobilenet_v2_blocks(),
            "transformer": zoo.transformer_encoder()}


MODELS = ["digits", "mobilenet", "transformer"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("capture", ["fx", "export"])
def test_import_is_faithful(models, name, dynamic, capture):
    model, inputs = models[name]
    graph = import_and_check(model, *inputs, dynamic_batch=dynamic, capture=capture)
    assert graph.meta["captured_by"] == {"fx": "fx", "export": "torch.export"}[capture]
    assert all(v.type.shape[0] == ("N" if dynamic else inputs[0].shape[0]) for v in graph.inputs)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("capture", ["fx", "export"])
def test_dynamic_batch_graph_runs_other_batch_sizes(models, name, capture):
    model, inputs = models[name]
    graph = import_module(model, inputs, dynamic_batch=True, capture=capture)
    dims = {d for n in graph.nodes for v in n.outputs for d in v.type.shape if not isinstance(d, int)}
    # every dim but the batch is known, also after reshapes to computed shapes; ATen's
    # attention folds the heads into the batch, a symbolic dim that is not N itself
    assert dims == {"N"} if capture == "fx" else dims <= {"N", "?"}
    assert graph.outputs[0].type.shape[0] == "N"
    for batch in (1, 5):
        other = tuple(torch.cat([x] * 5)[:batch] for x in inputs)
        assert_faithful(graph, model, other)


def test_dynamic_batch_needs_a_model_that_runs_at_other_batch_sizes():
    class FixedBatch(nn.Module):
        def forward(self, x):
            return x + torch.ones(2, 3, 4)

    with pytest.raises(FrontendError, match=r"dim 'N' is dynamic, but the model fails when it grows \(inputs \[3, 3, 4\]\)"):
        import_module(FixedBatch(), torch.randn(2, 3, 4), dynamic_batch=True)


def test_transformer_is_traced_through_to_catalog_ops(models):
    graph = import_module(*models["transformer"])
    ops = graph.op_counts()
    assert ops["softmax"] == 2 and ops["matmul"] == 4 and ops["layer_norm"] == 5 and ops["gelu"] == 2


def test_weights_are_consts_named_by_module_path(models):
    graph = import_module(*models["digits"])
    origins = {n.attrs["origin"] for n in graph.nodes if n.op == "const" and "origin" in n.attrs}
    assert origins == {n for n, _ in models["digits"][0].named_parameters()}
    buffer = graph.find("features.1.running_var")  # buffers keep their path as the value name only
    assert buffer.producer.op == "const" and "origin" not in buffer.producer.attrs
    conv = next(n for n in graph.nodes if n.op == "conv2d")
    np.testing.assert_array_equal(graph.const_value(conv.inputs[1]), models["digits"][0].features[0].weight.detach().numpy())


def test_tied_weights_share_one_const():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 6)

        def forward(self, ids):
            return self.embed(ids) @ self.embed.weight.t()

    graph = import_and_check(Tied(), torch.tensor([[1, 2, 3]]))
    assert sum(1 for n in graph.nodes if n.attrs.get("origin") == "embed.weight") == 1


@pytest.mark.parametrize("name", MODELS)
def test_text_round_trip(models, name):
    graph = import_module(*models[name], dynamic_batch=True)
    blobs = []
    assert graph_diff(parse(print_graph(graph, blobs), blobs), graph) is None


class ShapeLoop(nn.Module):
    """A loop whose trip count is read from the input's shape: symbolic tracing cannot
    unroll it (range() of a traced value), torch.export can."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        acc = x[:, 0]
        for i in range(1, x.shape[1]):
            acc = acc * 0.5 + x[:, i]
        return self.proj(acc)


def test_falls_back_to_torch_export():
    graph = import_and_check(ShapeLoop(), torch.randn(2, 3, 4))
    assert graph.meta["captured_by"] == "torch.export"
    assert any(n.attrs.get("origin") == "proj.weight" for n in graph.nodes)


def test_branch_on_input_metadata_is_traced_by_fx():
    class RankBranch(nn.Module):
        def forward(self, x):
            if x.dim() == 4 and x.shape[-1] > 2:
                x = x.mean((2, 3))
            return torch.relu(x)

    graph = import_and_check(RankBranch(), torch.randn(2, 3, 4, 4))
    assert graph.meta["captured_by"] == "fx" and "reduce_mean" in graph.op_counts()


def test_branch_on_tensor_values_is_a_clear_error():
    class ValueBranch(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(FrontendError, match="cannot capture ValueBranch: symbolic tracing failed .*values of tensor"):
        import_module(ValueBranch(), torch.ones(2, 2))


def test_forced_capture_modes(models):
    model, inputs = models["digits"]
    assert import_module(model, inputs, capture="export").meta["captured_by"] == "torch.export"
    with pytest.raises(FrontendError, match="symbolic tracing failed"):
        import_module(ShapeLoop(), torch.randn(2, 3, 4), capture="fx")
    with pytest.raises(FrontendError, match="capture must be one of"):
        import_module(model, inputs, capture="jit")


def test_unsupported_op_names_node_and_module():
    class Head(nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(8, 8)
            self.head = Head()

        def forward(self, x):
            return self.head(self.body(x))

    with pytest.raises(FrontendError, match=r"unsupported op torch\.fft\.fft at node 'fft_fft' \(module 'head'\)"):
        import_module(Net(), torch.randn(2, 8))


def test_wrong_example_shape_is_reported(models):
    model, _ = models["digits"]
    with pytest.raises(FrontendError, match=r"DigitsCNN fails on the example inputs \(1 given: float32\[2, 1, 6, 6\]\)"):
        import_module(model, torch.randn(2, 1, 6, 6))


def test_wrong_example_count_is_reported(models):
    model, _ = models["digits"]
    with pytest.raises(FrontendError, match=r"fails on the example inputs \(2 given.*check their number and shapes"):
        import_module(model, (torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)))


def test_non_tensor_example_is_reported(models):
    with pytest.raises(FrontendError, match="example input 0 is a list, not a tensor"):
        import_module(models["digits"][0], ([1.0, 2.0],))


def test_import_leaves_training_mode_and_inputs_alone():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.ReLU(inplace=True)).train()
    x = torch.randn(2, 3)
    before = x.clone()
    graph = import_module(model, x)
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(x, before)
    assert set(graph.op_counts()) == {"const", "linear", "relu"}
