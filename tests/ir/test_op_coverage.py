"""Every op the frontends produce is fully declared: registered, with an attribute
schema the imported nodes satisfy, type inference that reproduces their types, a numpy
reference and a torch implementation; and the catalog (docs/ops.md) lists it.

The models are the three PP-OCR models shipped with rapidocr_onnxruntime and the zoo
models, captured both ways (torch.fx and torch.export spell ops differently)."""
import inspect
from pathlib import Path

import pytest
import rapidocr_onnxruntime
import torch

from qcompiler.frontends.fx import import_module
from qcompiler.frontends.onnx import import_onnx
from qcompiler.ir.ops.infer import plain
from qcompiler.ir.registry import all_ops, get_op, infer_types, is_opaque
from qcompiler.testing import zoo

ONNX_MODELS = sorted((Path(rapidocr_onnxruntime.__file__).parent / "models").glob("*.onnx"))
ZOO = {"digits": lambda: (zoo.DigitsCNN().eval(), (torch.randn(2, 1, 8, 8),)),
       "mobilenet": zoo.mobilenet_v2_blocks, "transformer": zoo.transformer_encoder}
CATALOG = Path(__file__).parents[2] / "docs" / "ops.md"
# const runs as a parameter or buffer of the torch executor, not through an op function
NO_TORCH_IMPL = {"const"}


@pytest.fixture(scope="module")
def imported():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    graphs = {path.stem: import_onnx(path) for path in ONNX_MODELS}
    for name, make in ZOO.items():
        model, inputs = make()
        for capture in ("fx", "export"):
            graphs[f"{name}/{capture}"] = import_module(model, inputs, dynamic_batch=True, capture=capture)
    torch.set_num_threads(threads)
    return graphs


def catalog_ops() -> set:
    """Op names in the first column of the catalog table."""
    names = set()
    for line in CATALOG.read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| op "):
            names.update(n.strip() for n in line.split("|")[1].split(","))
    return names


def test_the_rapidocr_models_are_there():
    assert len(ONNX_MODELS) == 3


def test_every_produced_op_is_registered_with_reference_and_torch_impl(imported):
    produced = {n.op for g in imported.values() for n in g.nodes if not is_opaque(n.op)}
    assert len(produced) > 30  # the models exercise a good part of the catalog
    for name in sorted(produced):
        d = get_op(name)
        assert callable(d.reference) and callable(d.infer), name
        assert not d.integer, f"{name}: a frontend produced a lowered integer op"
        assert d.torch is not None or name in NO_TORCH_IMPL, f"{name} has no @torch_impl"
    assert produced <= catalog_ops(), f"not in docs/ops.md: {sorted(produced - catalog_ops())}"


def test_imported_nodes_satisfy_their_schema_and_inference(imported):
    for key, g in imported.items():
        for node in g.nodes:
            if is_opaque(node.op):
                continue
            where = f"{key}: node {node.label()}"
            d = get_op(node.op)
            d.check_arity(len(node.inputs), where)
            d.check_attrs(node.attrs, where)
            if node.op == "const":
                continue
            inferred = infer_types(node.op, [v.type if v is not None else None for v in node.inputs], node.attrs,
                                   [g.const_value(v) for v in node.inputs])
            assert len(inferred) == len(node.outputs), where
            for t, v in zip(inferred, node.outputs):
                assert plain(t).dtype == plain(v.type).dtype and same_dims(t.shape, v.type.shape), \
                    f"{where}: inferred {t}, imported as {v.type}"


def same_dims(a: tuple, b: tuple) -> bool:
    """Equal where both are static; a symbolic dim stands for any size."""
    return len(a) == len(b) and all(x == y or isinstance(x, str) or isinstance(y, str) for x, y in zip(a, b))


def test_every_float_op_in_the_registry_is_complete():
    """Beyond what the test models happen to use: each catalog op has a torch impl, and
    its reference and torch impl accept the schema's attributes by name."""
    ops = {n: d for n, d in all_ops().items() if not d.integer and n not in NO_TORCH_IMPL}
    listed = catalog_ops() - NO_TORCH_IMPL
    assert set(ops) == listed, f"registered, not in docs/ops.md: {sorted(set(ops) - listed)}; " \
                               f"in docs/ops.md, not registered: {sorted(listed - set(ops))}"
    for name, d in ops.items():
        assert d.torch is not None, f"{name} has no @torch_impl"
        if not d.attrs:
            continue  # nothing to pass by name (and builtins like torch.neg have no signature)
        for fn in (d.reference, d.torch):
            params = inspect.signature(fn).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            missing = [a for a in d.attrs if a not in params and not takes_any]
            assert not missing, f"{name}: {fn.__qualname__} does not take attributes {missing}"

