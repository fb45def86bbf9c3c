#!/usr/bin/env python3
"""Layer names and weight shapes of keras.applications' ImageNet files, from Keras' own source.

Runs the application modules of tf-keras (the Keras 2 code that wrote the `_notop.h5` files, whose
layer names the files carry) against a small stand-in for the Keras API that records each layer's
name and the shapes of the weights Keras would create for it. No Keras or TensorFlow is needed.

    git -C tf-keras archive <commit> tf_keras/applications | tar x -C /tmp/tf-keras
    python3 scripts/keras/layer_lists.py /tmp/tf-keras <commit> packages/weights/src/keras-layers

writes one JSON per backbone: the file name Keras downloads, and the layers with weights, in the
order of the file's `layer_names`, each with its weights' names and shapes (include_top=False).
"""
import importlib.util
import json
import os
import sys
import types

# --- a symbolic tensor that knows its shape (channels last) -------------------------------------


class T:
    def __init__(self, shape):
        self.shape = tuple(shape)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _spatial(size, kernel, stride, padding):
    if size is None:
        return None
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


RECORDED = []  # (name, [(weight, shape)]) in creation order
_COUNTS = {}


def _auto_name(cls):
    snake = "".join("_" + c.lower() if c.isupper() else c for c in cls).lstrip("_")
    snake = {"conv2_d": "conv2d", "depthwise_conv2_d": "depthwise_conv2d", "zero_padding2_d": "zero_padding2d"}.get(snake, snake)
    n = _COUNTS.get(snake, 0)
    _COUNTS[snake] = n + 1
    return snake if n == 0 else f"{snake}_{n}"


class Layer:
    def __init__(self, *args, name=None, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.name = name or _auto_name(type(self).__name__)

    def weights(self, inputs):
        return []

    def output(self, inputs):
        return T(inputs.shape)

    def __call__(self, inputs):
        weights = self.weights(inputs)
        RECORDED.append((self.name, weights))
        return self.output(inputs)


class Conv2D(Layer):
    def weights(self, x):
        filters, kernel = self.args[0], _pair(self.args[1] if len(self.args) > 1 else self.kwargs["kernel_size"])
        w = [("kernel", [kernel[0], kernel[1], x.shape[-1], filters])]
        if self.kwargs.get("use_bias", True):
            w.append(("bias", [filters]))
        return w

    def output(self, x):
        filters, kernel = self.args[0], _pair(self.args[1] if len(self.args) > 1 else self.kwargs["kernel_size"])
        stride = _pair(self.kwargs.get("strides", 1))
        pad = self.kwargs.get("padding", "valid")
        return T((x.shape[0], _spatial(x.shape[1], kernel[0], stride[0], pad), _spatial(x.shape[2], kernel[1], stride[1], pad), filters))


class DepthwiseConv2D(Layer):
    def _kernel(self):
        return _pair(self.args[0] if self.args else self.kwargs["kernel_size"])

    def weights(self, x):
        k = self._kernel()
        w = [("depthwise_kernel", [k[0], k[1], x.shape[-1], self.kwargs.get("depth_multiplier", 1)])]
        if self.kwargs.get("use_bias", True):
            w.append(("bias", [x.shape[-1]]))
        return w

    def output(self, x):
        k = self._kernel()
        stride = _pair(self.kwargs.get("strides", 1))
        pad = self.kwargs.get("padding", "valid")
        return T((x.shape[0], _spatial(x.shape[1], k[0], stride[0], pad), _spatial(x.shape[2], k[1], stride[1], pad), x.shape[-1]))


class BatchNormalization(Layer):
    def weights(self, x):
        c = x.shape[-1]
        return [("gamma", [c]), ("beta", [c]), ("moving_mean", [c]), ("moving_variance", [c])]


class Normalization(Layer):
    def weights(self, x):
        c = x.shape[-1]
        return [("mean", [c]), ("variance", [c]), ("count", [])]


class Dense(Layer):
    def weights(self, x):
        return [("kernel", [x.shape[-1], self.args[0]]), ("bias", [self.args[0]])]

    def output(self, x):
        return T(x.shape[:-1] + (self.args[0],))


class ZeroPadding2D(Layer):
    def output(self, x):
        p = self.kwargs.get("padding", self.args[0] if self.args else 1)
        if isinstance(p, int):
            p = ((p, p), (p, p))
        p = [_pair(q) for q in p]
        return T((x.shape[0], x.shape[1] + sum(p[0]), x.shape[2] + sum(p[1]), x.shape[3]))


class _Pool(Layer):
    def output(self, x):
        k = _pair(self.args[0] if self.args else self.kwargs.get("pool_size", 2))
        s = _pair(self.kwargs.get("strides") or (self.args[1] if len(self.args) > 1 else k))
        pad = self.kwargs.get("padding", "valid")
        return T((x.shape[0], _spatial(x.shape[1], k[0], s[0], pad), _spatial(x.shape[2], k[1], s[1], pad), x.shape[3]))


class MaxPooling2D(_Pool):
    pass


class AveragePooling2D(_Pool):
    pass


class GlobalAveragePooling2D(Layer):
    def output(self, x):
        return T((x.shape[0], x.shape[-1]))


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    pass


class Reshape(Layer):
    def output(self, x):
        return T((x.shape[0],) + tuple(self.args[0]))


class _Merge(Layer):
    def __call__(self, inputs):
        RECORDED.append((self.name, []))
        return self.output(inputs)

    def output(self, xs):
        return T(xs[0].shape)


class Add(_Merge):
    pass


class Multiply(_Merge):
    pass


class Concatenate(_Merge):
    def output(self, xs):
        return T(xs[0].shape[:-1] + (sum(x.shape[-1] for x in xs),))


class Activation(Layer):
    pass


class ReLU(Layer):
    pass


class Rescaling(Layer):
    pass


class Dropout(Layer):
    pass


class Flatten(Layer):
    pass


def Input(shape=None, tensor=None, **kwargs):
    RECORDED.append((kwargs.get("name") or _auto_name("InputLayer"), []))
    return T((None,) + tuple(shape))


def _functional(cls):
    return lambda inputs, name=None, **kwargs: cls(name=name, **kwargs)(inputs)


LAYERS = types.SimpleNamespace(
    **{k: v for k, v in globals().items() if isinstance(v, type) and issubclass(v, Layer)},
    Input=Input,
    add=_functional(Add),
    multiply=_functional(Multiply),
    concatenate=_functional(Concatenate),
)

# --- the rest of the API the application modules touch -------------------------------------------


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def _install_stubs():
    class Model:
        def __init__(self, inputs, outputs, name=None):
            self.name = name

    def correct_pad(inputs, kernel_size):
        k = _pair(kernel_size)
        size = inputs.shape[1:3]
        adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
        correct = (k[0] // 2, k[1] // 2)
        return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))

    tf = _module("tensorflow")
    tf.compat = _module("tensorflow.compat")
    tf.compat.v2 = _module("tensorflow.compat.v2", io=types.SimpleNamespace(gfile=types.SimpleNamespace(exists=lambda p: False)))
    _module("tensorflow.python")
    _module("tensorflow.python.util")
    _module("tensorflow.python.util.tf_export", keras_export=lambda *a, **k: (lambda f: f))
    _module("tensorflow.python.platform")
    _module("tensorflow.python.platform.tf_logging", warning=lambda *a, **k: None)
    sys.modules["tensorflow.python.platform"].tf_logging = sys.modules["tensorflow.python.platform.tf_logging"]
    backend = _module(
        "tf_keras.backend",
        image_data_format=lambda: "channels_last",
        is_keras_tensor=lambda x: isinstance(x, T),
        int_shape=lambda x: x.shape,
    )
    imagenet_utils = _module(
        "tf_keras.applications.imagenet_utils",
        obtain_input_shape=lambda input_shape, **k: input_shape,
        correct_pad=correct_pad,
        validate_activation=lambda *a: None,
        preprocess_input=lambda *a, **k: None,
        decode_predictions=lambda *a, **k: None,
        PREPROCESS_INPUT_DOC="{mode}{ret}{error}",
        PREPROCESS_INPUT_RET_DOC_CAFFE="",
        PREPROCESS_INPUT_RET_DOC_TF="",
        PREPROCESS_INPUT_RET_DOC_TORCH="",
        PREPROCESS_INPUT_ERROR_DOC="",
        PREPROCESS_INPUT_DEFAULT_ERROR_DOC="",
    )
    _module("tf_keras", backend=backend)
    _module("tf_keras.applications", imagenet_utils=imagenet_utils)
    _module("tf_keras.engine", training=_module("tf_keras.engine.training", Model=Model))
    _module("tf_keras.layers", VersionAwareLayers=lambda: LAYERS)
    _module("tf_keras.utils", data_utils=_module("tf_keras.utils.data_utils", get_file=None), layer_utils=_module("tf_keras.utils.layer_utils", get_source_inputs=lambda x: x))


# --- the backbones fermix builds, as Keras builds them without the top --------------------------

BACKBONES = {
    "resnet50": ("resnet.py", "ResNet50", {}, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "vgg16": ("vgg16.py", "VGG16", {}, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "densenet121": ("densenet.py", "DenseNet121", {}, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "efficientnetb0": ("efficientnet.py", "EfficientNetB0", {}, "efficientnetb0_notop.h5"),
    "mobilenetv2": ("mobilenet_v2.py", "MobileNetV2", {"alpha": 1.0}, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
}


def layer_list(repo, commit, backbone):
    file, fn, kwargs, h5 = BACKBONES[backbone]
    RECORDED.clear()
    _COUNTS.clear()
    path = os.path.join(repo, "tf_keras", "applications", file)
    spec = importlib.util.spec_from_file_location(f"tf_keras.applications.{file[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    getattr(module, fn)(include_top=False, weights=None, input_shape=(224, 224, 3), **kwargs)
    return {
        "backbone": backbone,
        "file": h5,
        "source": f"keras-team/tf-keras@{commit} tf_keras/applications/{file} {fn}(include_top=False, weights=None{''.join(f', {k}={v}' for k, v in kwargs.items())})",
        "layers": [{"name": name, "weights": {w: shape for w, shape in weights}} for name, weights in RECORDED if weights],
    }


def main():
    repo, commit, out = sys.argv[1], sys.argv[2], sys.argv[3]
    _install_stubs()
    os.makedirs(out, exist_ok=True)
    for backbone in BACKBONES:
        data = layer_list(repo, commit, backbone)
        layers = ",\n".join("    " + json.dumps(layer) for layer in data["layers"])
        head = {k: v for k, v in data.items() if k != "layers"}
        with open(os.path.join(out, f"{backbone}.json"), "w") as f:
            f.write(json.dumps(head, indent=2)[:-2] + ',\n  "layers": [\n' + layers + "\n  ]\n}\n")
        n = sum(len(layer["weights"]) for layer in data["layers"])
        print(f"{backbone}: {len(data['layers'])} layers with weights, {n} weights")


if __name__ == "__main__":
    main()
