"""The nine CNNs of onnx's light test zoo (onnx/backend/test/data/light/, opset 9) with
seeded random weights, and structured images to feed them.

The shipped files carry no weights: each parameter is made by a ConstantOfShape filling
0.02, and the few small initializers are leftovers. `light_model(name, seed)` replaces
every float parameter by a seeded draw of the same shape, scaled by its role so that
activations neither explode nor vanish through 20-120 layers:

- conv / gemm weights: He-normal (std sqrt(2 / fan_in)); the last gemm LeCun-normal so
  the logits stay in a range where softmax is not one-hot;
- biases, batch-norm and Mul/Add shifts: small normals; Mul scales and BN gammas near 1;
- batch-norm running statistics measured on the images of `light_images` in
  onnxruntime, as a trained model's would be; the classifier (last conv / gemm) rescaled the same way, so that
  top-1 depends on the image and not only on the random biases.
"""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_ZOO = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
             "squeezenet", "vgg19", "zfnet512")
IMAGE_SHAPE = (3, 224, 224)
PROBE_IMAGES = 4
LOGIT_STD = 3.0
RESHAPES = ("Unsqueeze", "Reshape")


def light_model_path(name: str) -> str:
    if name not in LIGHT_ZOO:
        raise ValueError(f"unknown light-zoo model {name!r}; expected one of {', '.join(LIGHT_ZOO)}")
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{name}.onnx")


def light_images(n: int, seed: int = 0) -> np.ndarray:
    """`n` float32 NCHW images: smooth colour fields, a few bright blobs and rectangles,
    normalized to about zero mean and unit variance (like ImageNet preprocessing)."""
    rng = np.random.default_rng(seed)
    c, h, w = IMAGE_SHAPE
    yy, xx = np.mgrid[0:h, 0:w] / np.float32(h)
    images = np.empty((n, c, h, w), np.float32)
    for i in range(n):
        img = rng.uniform(-0.5, 0.5, (c, 1, 1)) + rng.normal(0, 0.6, (c, 1, 1)) * (xx - 0.5) \
            + rng.normal(0, 0.6, (c, 1, 1)) * (yy - 0.5)
        for _ in range(rng.integers(3, 7)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
            img = img + rng.normal(0, 1.0, (c, 1, 1)) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        for _ in range(rng.integers(1, 4)):
            y0, x0 = rng.integers(0, h - 32, 2)
            y1, x1 = y0 + rng.integers(16, 96), x0 + rng.integers(16, 96)
            img[:, y0:y1, x0:x1] += rng.normal(0, 0.8, (c, 1, 1))
        img = img + rng.normal(0, 0.05, img.shape)  # sensor noise
        images[i] = (img - img.mean()) / img.std()
    return images


@lru_cache(maxsize=2)
def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """The light-zoo model `name` with seeded random weights (see the module docstring).
    Cached and shared between callers: copy it before changing it."""
    model = onnx.load(light_model_path(name))
    params = _parameters(model)
    roles = _roles(model, set(params))
    params = {p: shape for p, shape in params.items() if p in roles}  # unread leftovers stay
    rng = np.random.default_rng(seed)
    last_gemm = max((i for i, n in enumerate(model.graph.node) if n.op_type == "Gemm"), default=None)
    last_weight = model.graph.node[last_gemm].input[1] if last_gemm is not None else None
    arrays = {p: _draw(rng, roles[p], shape, p == last_weight)
              for p, shape in sorted(params.items())}
    _replace_parameters(model, arrays)
    _fit_statistics(model, arrays)
    return model


def with_logits_output(model: onnx.ModelProto) -> tuple:
    """(a copy of `model` that also outputs what its last Softmax reads, that value's
    name); `model` itself and its output when there is no Softmax (DenseNet). With random
    weights the logits say more about quantization than a peaked softmax does."""
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    if not softmax:
        return model, model.graph.output[0].name
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.graph.output.append(onnx.helper.make_empty_tensor_value_info(softmax[-1].input[0]))
    return copy, softmax[-1].input[0]


def compiled_logits(cm, images: np.ndarray) -> np.ndarray:
    """What compiled model `cm`'s last softmax reads, from its integer graph in Numba,
    one image at a time (the output itself when there is no softmax)."""
    from ..backends.numba.executor import NumbaExecutor
    from ..ir.clone import clone

    graph = clone(cm.graph)
    softmax = [n for n in graph.nodes if n.op == "softmax"]
    if softmax:
        graph.set_outputs([softmax[-1].inputs[0]])
    run = NumbaExecutor(graph)
    return np.concatenate([run([images[i:i + 1]])[0] for i in range(len(images))])


def _parameters(model: onnx.ModelProto) -> dict:
    """Float parameter name -> shape: ConstantOfShape outputs and float initializers."""
    inits = {t.name: t for t in model.graph.initializer}
    params = {}
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape":
            params[node.output[0]] = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
    for name, t in inits.items():
        if t.data_type == onnx.TensorProto.FLOAT and not name.endswith("__SHAPE"):
            params[name] = tuple(t.dims)
    return params


def _roles(model: onnx.ModelProto, params: set) -> dict:
    """Parameter -> (consumer op, operand index), looking through Unsqueeze and Reshape."""
    reshaped = _reshaped_parameters(model, params)
    roles = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            source = reshaped.get(name, name)
            if source in params and node.op_type not in RESHAPES:
                transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
                roles[source] = (node.op_type + ("T" if transposed else ""), i)
    return roles


def _reshaped_parameters(model: onnx.ModelProto, params: set) -> dict:
    """Reshaped parameter value -> the parameter."""
    return {n.output[0]: n.input[0] for n in model.graph.node if n.op_type in RESHAPES and n.input[0] in params}


def _draw(rng, role: tuple, shape: tuple, last: bool) -> np.ndarray:
    op, index = role
    if op == "Conv" and index == 1:
        fan_in = int(np.prod(shape[1:]))
        return _normal(rng, np.sqrt(2.0 / fan_in), shape)
    if op.startswith("Gemm") and index == 1:
        fan_in = int(np.prod(shape[1:])) if op == "GemmT" else int(np.prod(shape[:-1]))
        return _normal(rng, np.sqrt((1.0 if last else 2.0) / fan_in), shape)
    if (op == "BatchNormalization" and index == 1) or op == "Mul":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if op == "BatchNormalization" and index == 4:
        return np.ones(shape, np.float32)  # measured later
    if op == "BatchNormalization" and index == 3:
        return np.zeros(shape, np.float32)  # measured later
    return _normal(rng, 0.1, shape)  # biases and shifts


def _normal(rng, std: float, shape: tuple) -> np.ndarray:
    x = rng.standard_normal(shape, dtype=np.float32)
    x *= np.float32(std)
    return x


def _replace_parameters(model: onnx.ModelProto, arrays: dict) -> None:
    graph = model.graph
    keep = [n for n in graph.node if not (n.op_type == "ConstantOfShape" and n.output[0] in arrays)]
    del graph.node[:]
    graph.node.extend(keep)
    shape_inputs = {n for n in (t.name for t in graph.initializer) if n.endswith("__SHAPE")}
    dropped = shape_inputs | set(arrays)
    inits = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(inits + [numpy_helper.from_array(a, name) for name, a in arrays.items()])
    inputs = [v for v in graph.input if v.name not in dropped]
    del graph.input[:]
    graph.input.extend(inputs)
    # initializers need not be graph inputs from IR version 4 on (opset 9's own)
    model.ir_version = max(model.ir_version, 4)


def _fit_statistics(model: onnx.ModelProto, arrays: dict) -> None:
    """Batch-norm running statistics, measured on probe images in one pass of a probe
    model whose batch norms normalize each image by its own statistics (iterating on
    running statistics instead diverges in DenseNet's depth); then the classifier's
    scale, measured on the model with those statistics."""
    norms = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    images = light_images(PROBE_IMAGES, seed=12345)
    if norms:
        probe, watched = _instance_normalizing_probe(model, norms, arrays)
        runs = _run(probe, watched, images)
        for n, m, v in zip(norms, watched[::2], watched[1::2]):
            means = np.stack([r[m].reshape(-1) for r in runs]).astype(np.float64)
            variances = np.stack([r[v].reshape(-1) for r in runs]).astype(np.float64)
            arrays[n.input[3]][...] = means.mean(0)
            arrays[n.input[4]][...] = variances.mean(0) + means.var(0)  # total variance over the images
        _set_initializers(model, {k: arrays[k] for n in norms for k in n.input[3:5]})
    head = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")][-1]
    head_params = [_reshaped_parameters(model, set(arrays)).get(k, k) for k in head.input[1:] if k]
    runs = _run(model, [head.output[0]], images)
    _center_head(head, arrays, np.concatenate([r[head.output[0]] for r in runs]))
    _set_initializers(model, {k: arrays[k] for k in head_params})
    # what reaches the softmax may follow the head through ReLU and pooling (SqueezeNet),
    # which scale with the head's parameters: one gain gives those logits LOGIT_STD
    logits = next((n.input[0] for n in model.graph.node if n.op_type == "Softmax"), model.graph.output[0].name)
    runs = _run(model, [logits], images)
    y = np.concatenate([r[logits].reshape(1, -1) for r in runs]).astype(np.float64)
    gain = np.float32(LOGIT_STD / (y - y.mean(0)).std())
    for k in head_params:
        arrays[k] *= gain
    _set_initializers(model, {k: arrays[k] for k in head_params})


def _run(model: onnx.ModelProto, watched: list, images: np.ndarray) -> list:
    """Per image, the values named `watched` (exposed as extra outputs of a copy)."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(v) for v in watched if v not in present)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the zoo files keep unused initializers, which onnxruntime warns about
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    data = next(v.name for v in model.graph.input)
    names = [o.name for o in probe.graph.output]
    return [dict(zip(names, session.run(None, {data: images[i:i + 1]}))) for i in range(len(images))]


def _instance_normalizing_probe(model: onnx.ModelProto, norms: list, arrays: dict) -> tuple:
    """A copy of `model` whose batch norms read their input normalized per image and
    channel over the spatial dims (mean 0, var 1), and the names of those means and variances."""
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    by_output = {n.output[0]: i for i, n in enumerate(probe.graph.node)}
    watched, extra_inits = [], []
    for k, bn in enumerate(norms):
        node = probe.graph.node[by_output[bn.output[0]]]
        x, tag = node.input[0], f"probe{k}"
        channels = arrays[node.input[3]].shape
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        spatial = [2, 3]
        new = [helper.make_node("ReduceMean", [x], [f"{tag}_mean"], axes=spatial, keepdims=1),
               helper.make_node("Sub", [x, f"{tag}_mean"], [f"{tag}_centred"]),
               helper.make_node("Mul", [f"{tag}_centred", f"{tag}_centred"], [f"{tag}_sq"]),
               helper.make_node("ReduceMean", [f"{tag}_sq"], [f"{tag}_var"], axes=spatial, keepdims=1),
               helper.make_node("Add", [f"{tag}_var", f"{tag}_eps"], [f"{tag}_var_eps"]),
               helper.make_node("Sqrt", [f"{tag}_var_eps"], [f"{tag}_std"]),
               helper.make_node("Div", [f"{tag}_centred", f"{tag}_std"], [f"{tag}_normalized"])]
        extra_inits += [numpy_helper.from_array(np.array(eps, np.float32), f"{tag}_eps"),
                        numpy_helper.from_array(np.zeros(channels, np.float32), f"{tag}_zero"),
                        numpy_helper.from_array(np.full(channels, 1 - eps, np.float32), f"{tag}_one")]
        node.input[0], node.input[3], node.input[4] = f"{tag}_normalized", f"{tag}_zero", f"{tag}_one"
        for i, extra in enumerate(new):
            probe.graph.node.insert(by_output[bn.output[0]] + i, extra)
        by_output = {n.output[0]: i for i, n in enumerate(probe.graph.node)}
        watched += [f"{tag}_mean", f"{tag}_var"]
    used = {name for n in probe.graph.node for name in n.input} | {v.name for v in probe.graph.input}
    inits = [t for t in list(probe.graph.initializer) + extra_inits if t.name in used]
    del probe.graph.initializer[:]
    probe.graph.initializer.extend(inits)
    return probe, watched


def _center_head(head, arrays: dict, y: np.ndarray) -> None:
    """Logits of zero mean per class over the probe images: with random weights the
    input-independent part of the logits would otherwise decide top-1. (Scaling each
    class to the same spread as well would amplify the quantization noise of the
    classes that barely vary.)"""
    axes = (0,) + tuple(range(2, y.ndim))
    if len(head.input) > 2 and head.input[2] in arrays:
        b = arrays[head.input[2]]
        b -= y.mean(axis=axes, dtype=np.float64).reshape(b.shape).astype(np.float32)


def _set_initializers(model: onnx.ModelProto, arrays: dict) -> None:
    for t in model.graph.initializer:
        if t.name in arrays:
            t.CopyFrom(numpy_helper.from_array(arrays[t.name], t.name))
