"""BR-QAT's mixed models on the bundled 8x8 digits CNN at W2A4: what their losses train
(the block's weights and biases, never a step size or a float block), what they are
trained against (the float model's outputs), and the pass end to end."""
import pytest
import torch
import torch.nn.functional as F

from qcompiler.cli.demo import load_demo_model
from qcompiler.model.loading import load_model
from qcompiler.passes.qat import QAT
from qcompiler.passes.qat.block_replacement import MixedModels
from qcompiler.passes.qat.training_module import TrainingModule
from qcompiler.passes.rounding.float_weights import rounded_weights
from qcompiler.passes.rounding.unit_graph import float_graph
from qcompiler.passmanager import PassContext, PassManager
from qcompiler.runtime.torch import to_torch
from qcompiler.testing.zoo import digits_data

PREPARE = "fold-constants,canonicalize,fold-bn,fuse-activations,dce,calibrate{method=mse},quantize{weights=i2,acts=u4}"


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    x_train, y_train, _, _ = digits_data()
    return x_train[:256], y_train[:256]


@pytest.fixture(scope="module")
def setup(digits):
    x = digits[0].numpy()
    graph = load_model(load_demo_model(), torch.from_numpy(x[:1]), dynamic_batch=True)
    PassManager([PREPARE]).run(graph, PassContext(calibration=x[:128]))
    weights = rounded_weights(graph, PassContext())
    backbone = TrainingModule(graph, weights, "lsq")
    mixed = MixedModels(graph, weights, "lsq", backbone, block_layers=2, loss="auto")
    teacher = to_torch(float_graph(graph, weights)).eval().requires_grad_(False)
    return graph, backbone, mixed, teacher


def _gradients(backbone, loss) -> dict:
    parameters = dict(backbone.module.named_parameters())
    backbone.module.zero_grad()
    loss.backward()
    return {name: p.grad for name, p in parameters.items()}


def test_mixed_losses_train_block_weights_but_no_step_size(setup, digits):
    _, backbone, mixed, teacher = setup
    x, y = digits
    steps = {id(p) for p in backbone.scale_parameters()}
    names = {id(p): n for n, p in backbone.module.named_parameters()}
    grads = _gradients(backbone, mixed([x[:32]], y[:32], list(teacher(x[:32]))))
    step_grads = {names[i]: grads[names[i]] for i in steps if i in names}
    assert step_grads and all(g is None or not g.any() for g in step_grads.values()), \
        [n for n, g in step_grads.items() if g is not None and g.any()]
    for block in mixed.blocks:  # every block's weights learn from its mixed model
        for w in block.weights:
            _, parameter, _ = backbone.weight_steps[w.value.name]
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, w.value.name
    for model in mixed.models:  # nor are the float blocks or the steps parameters of a mixed model
        assert not {id(p) for p in model.parameters()} & steps


def test_mixed_models_distil_the_float_model_not_the_labels(setup, digits):
    _, _, mixed, teacher = setup
    x, y = digits[0][:32], digits[1][:32]
    reference = list(teacher(x))
    with torch.no_grad():
        loss = mixed([x], y, reference)
        assert torch.equal(loss, mixed([x], (y + 1) % 10, reference))  # labels play no part
        expected = sum(F.kl_div(F.log_softmax(list(m(x))[0], -1), F.log_softmax(reference[0], -1),
                                log_target=True, reduction="batchmean") for m in mixed.models)
    torch.testing.assert_close(loss, expected / len(mixed.models))  # the mean: as much weight as the backbone


def test_step_sizes_still_learn_from_the_backbone(setup, digits):
    _, backbone, _, _ = setup
    x, y = digits
    grads = _gradients(backbone, F.cross_entropy(list(backbone.module(x[:32]))[0], y[:32].long()))
    names = {id(p): n for n, p in backbone.module.named_parameters()}
    assert any(grads[names[id(p)]] is not None and grads[names[id(p)]].any() for p in backbone.scale_parameters())


def test_br_qat_with_labels_trains_its_mixed_models_against_the_float_model(digits):
    """Cross-entropy needs no float outputs for the backbone; the mixed models still get them."""
    x, y = (a.numpy() for a in digits)
    graph = load_model(load_demo_model(), torch.from_numpy(x[:1]), dynamic_batch=True)
    manager = PassManager([PREPARE, QAT(epochs=1, lr=1e-3, data=(x, y), block_replacement=True, block_layers=2,
                                        seed=0)])
    manager.run(graph, PassContext(calibration=x[:128]))
    stats = manager.history[-1].stats
    assert stats["mixed_models"] >= 2 and "accuracy" in stats["epochs"][0]
    assert any(n.attrs.get("q.qat") == "lsq" for n in graph.nodes)
