"""Do the metrics rank layers the way quantizing them really hurts?

On the deep digits CNN (seven layers), each metric's score of each layer at b bits is
compared by Spearman's rank correlation with what quantizing that layer alone at b bits
(Q_b(W), everything else float) measurably costs on all 1797 digits (the cost is a
property of the model; the metrics see 128 training samples):
- at 2 bits, the accuracy drop (0.5 to 16 points; five of the seven layers lose 9-24
  of the 1797 digits, so their order among themselves is close to noise);
- at 4 bits accuracy moves by a few samples either way, noise, so the measured loss
  increase (KL of the quantized outputs from the float ones) stands in for it.

With seven layers ρ ≥ 0.75 is significant (one-sided p < 0.05 from 0.714). Asserted
where a metric reaches it; the table is printed (pytest -s) for all of them. Known and
left unasserted (values over three training seeds): hessian at 2 bits (ρ 0.4-0.6:
HAWQ-V3's Tr(H)/n·‖δ‖² treats the error as isotropic; at 2 bits the first conv, 72
weights seeing raw pixels, has high mean curvature where its error is not), fisher at
2 bits (0.3-0.6, the same diagonal approximation), bit-gradient at 4 bits (-0.7-0.5:
the task-loss gradient at the float weights is noise next to so small an error),
sqnr at 2 bits (0.68 on this model, where five layers' drops are near noise), bmpq
(0.3-0.6: a first-order score, gradient magnitudes times steps, blind to curvature), orthogonality (0.6-0.9: its importance grows with depth by
construction, so it ranks depth, not weights, and does not depend on b).
"""
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

import qcompiler.passes.sensitivity  # noqa: F401  (registers the pass)
from qcompiler.frontends.fx import import_module
from qcompiler.passes.sensitivity.layers import quantizable_layers
from qcompiler.passes.sensitivity.measurement import Measurement
from qcompiler.passes.sensitivity.torch_model import TorchModel
from qcompiler.passmanager import PassContext, run_pipeline
from qcompiler.testing.deep_digits import train_deep_digits_cnn
from qcompiler.testing.zoo import digits_data

METRICS = ("hessian", "fisher", "bit-gradient", "bmpq", "orthogonality", "sqnr")
SIGNIFICANT = 0.75
ASSERTED = {("hessian", "kl@4"), ("fisher", "kl@4"), ("bit-gradient", "acc@2"), ("sqnr", "kl@4")}


@pytest.fixture(scope="module")
def measured():
    """(graph, {column: measured cost per layer}) for the trained deep digits CNN."""
    x_train, y_train, x_test, y_test = digits_data()
    graph = import_module(train_deep_digits_cnn(), x_train[:4], dynamic_batch=True)
    x, y = torch.cat([x_train, x_test]), torch.cat([y_train, y_test])
    layers = quantizable_layers(graph)
    m = Measurement(graph, layers, TorchModel(graph, layers), [], (2, 4), True, False, torch.Generator(), 1, 0.0)
    with torch.no_grad():
        reference = m.model((x,))[0]

        def run(layer, bits):
            return m.model((x,), m.quantized(layer, bits))[0]

        accuracy = (reference.argmax(1) == y).float().mean()
        truth = {"acc@2": [float(accuracy - (run(layer, 2).argmax(1) == y).float().mean()) for layer in layers],
                 "kl@4": [float(F.kl_div(F.log_softmax(run(layer, 4), 1), F.log_softmax(reference, 1),
                                         log_target=True, reduction="batchmean")) for layer in layers]}
    calibration = [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, 128, 64)]
    return graph, truth, calibration


@pytest.fixture(scope="module")
def correlations(measured):
    graph, truth, calibration = measured
    table = {}
    for metric in METRICS:
        run_pipeline(graph, f"sensitivity{{metric={metric}}}", PassContext(calibration=calibration))
        scores = [n.attrs["q.sens"] for n in graph.nodes if "q.sens" in n.attrs]
        table[metric] = {column: spearmanr([s[column[-1]] for s in scores], truth[column])[0] for column in truth}
    lines = [f"{'metric':<14}" + "".join(f"{c:>9}" for c in truth)]
    lines += [f"{metric:<14}" + "".join(f"{rho:>+9.2f}{'*' if (metric, c) in ASSERTED else ' '}"
                                        for c, rho in row.items()) for metric, row in table.items()]
    print("\nSpearman rank correlation of per-layer scores with measured cost (* asserted >= "
          f"{SIGNIFICANT}):\n" + "\n".join(lines))
    return table


def test_measured_costs_spread_enough_to_rank(measured):
    _, truth, _ = measured
    assert max(truth["acc@2"]) - min(truth["acc@2"]) > 0.05
    assert max(truth["kl@4"]) > 3 * min(truth["kl@4"]) > 0


@pytest.mark.parametrize("metric, column", sorted(ASSERTED))
def test_metric_ranks_layers_like_their_measured_cost(correlations, metric, column):
    assert correlations[metric][column] >= SIGNIFICANT, correlations
