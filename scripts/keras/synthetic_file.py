#!/usr/bin/python3
"""A stand-in for a keras.applications ImageNet file, to measure loading without downloading it.

    /usr/bin/python3 scripts/keras/synthetic_file.py packages/weights/src/keras-layers/resnet50.json /tmp/resnet50_notop.h5

Writes the Keras 2 save_weights layout (see scripts/fixtures/make_h5.py) with the layer names and
weight shapes of the committed layer list and random float32 values: the same size and structure
as the real file (94 MB for ResNet50), not its values.
"""
import json
import sys

import h5py
import numpy as np

spec = json.load(open(sys.argv[1]))
rng = np.random.default_rng(0)
with h5py.File(sys.argv[2], "w") as f:
    names = [layer["name"] for layer in spec["layers"]]
    f.attrs["layer_names"] = np.asarray([n.encode() for n in names])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.1.5"
    for layer in sorted(spec["layers"], key=lambda l: l["name"]):
        g = f.create_group(layer["name"])
        weight_names = [f"{layer['name']}/{w}:0".encode() for w in layer["weights"]]
        g.attrs["weight_names"] = np.asarray(weight_names)
        for wn, shape in zip(weight_names, layer["weights"].values()):
            g.create_dataset(wn.decode(), data=rng.standard_normal(shape).astype(np.float32))
