"""load_model's use of example inputs for ONNX models, and load_arrays (calibration files)."""
import numpy as np
import pytest
from onnx import helper

from qcompiler.ir import FrontendError
from qcompiler.model.loading import DataFileError, load_arrays, load_model
from qcompiler.testing.onnx_models import floats, make_model, tensor


def any_size_conv():
    w = floats("w", np.ones((4, 3, 3, 3)))
    conv = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    return make_model([conv], [tensor("x", ["batch", 3, "H", "W"])], [tensor("y", ["batch", 4, "H", "W"])], 17,
                      inits=[w])


@pytest.mark.parametrize("dynamic_batch, shape", [(True, ("batch", 3, "H", "W")), (False, (2, 3, "H", "W"))])
def test_onnx_models_keep_their_symbolic_dims_whatever_the_examples(dynamic_batch, shape):
    """The examples' 8x12 only serves calibration; dim 0 is fixed to theirs on request."""
    g = load_model(any_size_conv(), np.zeros((2, 3, 8, 12), np.float32), dynamic_batch=dynamic_batch)
    assert g.inputs[0].type.shape == shape and g.outputs[0].type.shape == (shape[0], 4, "H", "W")


def test_dynamic_dims_make_declared_dims_symbolic_by_name_or_position():
    x = np.zeros((2, 3, 8, 12), np.float32)
    g = load_model(any_size_conv(), x, dynamic_batch=True, dynamic_dims={"x": {-1: "width"}})
    assert g.inputs[0].type.shape == ("batch", 3, "H", "width")
    assert load_model(any_size_conv(), x, dynamic_batch=False, dynamic_dims={0: {0: "B"}}).inputs[0].type.shape == \
        ("B", 3, "H", "W")


@pytest.mark.parametrize("spec, message", [
    ({"y": {0: "N"}}, r"dynamic_dims names input 'y', but .* takes 1 inputs \(x\)"),
    ({"x": {4: "N"}}, r"dynamic_dims\['x'\]: axis 4 is not an axis of input 'x' \(rank 4\)"),
    ({"x": {0: "a b"}}, r"the symbol must be a name like 'W'"),
    ({"x": [0]}, r"dynamic_dims\['x'\] must map axes to symbols"),
])
def test_a_bad_dynamic_dims_option_is_named(spec, message):
    with pytest.raises(FrontendError, match=message):
        load_model(any_size_conv(), np.zeros((2, 3, 8, 12), np.float32), dynamic_dims=spec)


def test_examples_must_fit_the_declared_static_dims_but_the_batch():
    with pytest.raises(FrontendError, match=r"input 'x' is declared \[batch, 3, H, W\], but its example input "
                                            r"has shape \[2, 4, 8, 12\]"):
        load_model(any_size_conv(), np.zeros((2, 4, 8, 12), np.float32))
    fixed_batch = any_size_conv()
    fixed_batch.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    assert load_model(fixed_batch, np.zeros((4, 3, 8, 12), np.float32)).inputs[0].type.shape == (1, 3, "H", "W")


def test_onnx_models_keep_their_shapes_without_examples():
    assert load_model(any_size_conv()).inputs[0].type.shape == ("batch", 3, "H", "W")


def test_example_count_must_match_the_onnx_inputs(tmp_path):
    path = tmp_path / "conv.onnx"
    path.write_bytes(any_size_conv().SerializeToString())
    with pytest.raises(FrontendError, match=r"conv.onnx takes 1 inputs \(x\), 2 example inputs were given"):
        load_model(str(path), (np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4))))


def test_load_arrays(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "one.npz", anything=x)
    np.savez(tmp_path / "two.npz", a=x, b=x[:, :1])
    np.testing.assert_array_equal(load_arrays(tmp_path / "x.npy"), x)
    np.testing.assert_array_equal(load_arrays(tmp_path / "one.npz"), x)  # one array: its name does not matter
    assert sorted(load_arrays(tmp_path / "two.npz")) == ["a", "b"]


@pytest.mark.parametrize("name, content, message", [
    ("objects.npy", np.array([{"a": 1}], dtype=object), "not a file of plain numeric arrays"),
    ("words.npy", np.array(["a", "b"]), "the array has dtype <U1; samples must be numbers"),
    ("scalar.npy", np.float32(3), r"the array is a single number; samples need a batch dimension \[N, ...\]"),
    ("data.csv", None, "expected a .npy or .npz file"),
    ("absent.npy", None, "absent.npy: no such file"),
])
def test_load_arrays_rejects(tmp_path, name, content, message):
    if content is not None:
        np.save(tmp_path / name, content, allow_pickle=True)
    with pytest.raises(DataFileError, match=message):
        load_arrays(tmp_path / name)


def test_an_onnx_input_without_a_declared_shape_takes_the_example_s():
    """The batch stays free with dynamic_batch; without an example the shape stays open."""
    shapeless = any_size_conv()
    shapeless.graph.input[0].type.tensor_type.ClearField("shape")
    assert load_model(shapeless, np.zeros((2, 3, 8, 12), np.float32), dynamic_batch=True).inputs[0].type.shape == \
        ("N", 3, 8, 12)
    with pytest.raises(FrontendError, match="graph input 'x' has no tensor type and shape"):
        load_model(shapeless, dynamic_dims={})
