#!/usr/bin/python3
"""
Reference outputs of torchvision for the fermix augmentation plugins' ops, with fixed parameters.

Run with Debian's python3-torch 1.13 and python3-torchvision 0.14 (/usr/bin/python3; a pyenv or venv
python may not see them), from the repository root:

    /usr/bin/python3 scripts/torchvision_references.py

It writes packages/plugin-<name>/test/fixtures/torchvision.json. Those files are committed, so the
tests (and CI) run on Node alone; rerun this script only when an op or a case changes.

Images are float32 in [0, 1], as fermix's batches are, so torchvision computes in float and does no
uint8 rounding of its own; the ops that torchvision only defines on uint8 (posterize, equalize) get
uint8 inputs. Every fixture stores its inputs as well, NHWC like fermix's tensors.
"""
import json
import math
import os
import sys

import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nhwc(t):
    """[N, C, H, W] tensor -> flat list in NHWC order, float32 values rounded to 7 decimals."""
    return [round(float(v), 7) for v in t.permute(0, 2, 3, 1).reshape(-1).tolist()]


def images():
    """Three 11x13 RGB images: uniform noise, a smooth colour gradient, and a blocky one (edges)."""
    g = torch.Generator().manual_seed(13)
    noise = torch.rand(3, 11, 13, generator=g)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 11), torch.linspace(0, 1, 13), indexing="ij")
    smooth = torch.stack([xx, yy, 0.5 * (1 - xx) + 0.25 * yy])
    blocks = (torch.rand(3, 3, 4, generator=g)).repeat_interleave(4, 1).repeat_interleave(4, 2)[:, :11, :13]
    return torch.stack([noise, smooth, blocks]).contiguous()


def write(package, payload):
    path = os.path.join(ROOT, "packages", package, "test", "fixtures", "torchvision.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {"torch": torch.__version__, "torchvision": torchvision.__version__, **payload}
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({len(payload['cases'])} cases)")


def per_image(x, fn):
    return torch.stack([fn(x[i]) for i in range(x.shape[0])])


def crop_cases(x):
    n, _, h, w = x.shape
    cases = []
    # Random resized crop: (i, j, h, w) per image, resized back to the input size, bilinear, no antialias.
    for boxes in [
        [(2, 3, 6, 7), (0, 0, 11, 13), (4, 1, 7, 12)],  # mostly upsampling, the whole image, a wide strip
        [(1, 2, 3, 9), (5, 6, 5, 5), (0, 10, 11, 3)],  # strong aspect changes, a tall thin crop
    ]:
        out = torch.stack([F.resized_crop(x[k], *boxes[k], [h, w], InterpolationMode.BILINEAR, antialias=False) for k in range(n)])
        cases.append({"op": "resizedCrop", "boxes": [dict(top=b[0], left=b[1], height=b[2], width=b[3]) for b in boxes], "output": nhwc(out)})
    # Resized to another size (downsampling included).
    boxes = [(0, 0, 11, 13), (3, 2, 8, 10), (1, 1, 9, 6)]
    out = torch.stack([F.resized_crop(x[k], *boxes[k], [5, 7], InterpolationMode.BILINEAR, antialias=False) for k in range(n)])
    cases.append({"op": "resizedCrop", "size": [5, 7], "boxes": [dict(top=b[0], left=b[1], height=b[2], width=b[3]) for b in boxes], "output": nhwc(out)})
    # Random crop with padding (as RandomCrop(size=(h, w), padding=p, fill=f) with given offsets).
    for padding, fill, offsets in [(2, 0.0, [(0, 0), (2, 2), (4, 1)]), (3, 0.5, [(6, 0), (1, 5), (3, 3)])]:
        def one(k):
            padded = F.pad(x[k], [padding], fill=fill, padding_mode="constant")
            return F.crop(padded, offsets[k][0], offsets[k][1], h, w)
        out = torch.stack([one(k) for k in range(n)])
        cases.append({"op": "paddedCrop", "padding": padding, "fill": fill, "offsets": [dict(top=o[0], left=o[1]) for o in offsets], "output": nhwc(out)})
    # Random affine (F.affine as RandomAffine calls it: fill a list per channel), bilinear.
    for params, fill in [
        ([(15.0, (0, 0), 1.0, (0.0, 0.0)), (-30.0, (2, -1), 1.0, (0.0, 0.0)), (90.0, (0, 0), 1.0, (0.0, 0.0))], 0.0),
        ([(0.0, (0, 0), 1.2, (0.0, 0.0)), (7.5, (-3, 2), 0.85, (10.0, 0.0)), (-12.0, (1, 1), 1.1, (-8.0, 5.0))], 0.25),
    ]:
        out = torch.stack([F.affine(x[k], angle=p[0], translate=list(p[1]), scale=p[2], shear=list(p[3]), interpolation=InterpolationMode.BILINEAR, fill=[fill] * 3) for k, p in enumerate(params)])
        cases.append({
            "op": "affine",
            "fill": fill,
            "params": [dict(angle=p[0], translate=list(p[1]), scale=p[2], shear=list(p[3])) for p in params],
            "output": nhwc(out),
        })
    return cases


def color_cases(x):
    cases = []
    for op, fn, factors in [
        ("brightness", F.adjust_brightness, [[0.6, 1.0, 1.4], [0.0, 0.25, 2.5]]),
        ("contrast", F.adjust_contrast, [[0.6, 1.0, 1.4], [0.0, 0.3, 3.0]]),
        ("saturation", F.adjust_saturation, [[0.6, 1.0, 1.4], [0.0, 0.5, 2.0]]),
        ("hue", F.adjust_hue, [[0.1, -0.1, 0.0], [0.5, -0.5, 0.27], [-0.33, 0.45, -0.05]]),
    ]:
        for f in factors:
            out = torch.stack([fn(x[k], f[k]) for k in range(x.shape[0])])
            cases.append({"op": op, "factors": f, "output": nhwc(out)})
    out = torch.stack([F.rgb_to_grayscale(x[k], num_output_channels=3) for k in range(x.shape[0])])
    cases.append({"op": "grayscale", "output": nhwc(out)})
    # ColorJitter's four ops in a given order with given factors, as its forward applies them.
    order, b, c, s, h = [3, 0, 2, 1], [0.8, 1.2, 1.05], [1.3, 0.7, 0.9], [0.5, 1.5, 1.1], [0.05, -0.08, 0.2]
    def jitter(k):
        img = x[k]
        for fn_id in order:
            img = [lambda i: F.adjust_brightness(i, b[k]), lambda i: F.adjust_contrast(i, c[k]), lambda i: F.adjust_saturation(i, s[k]), lambda i: F.adjust_hue(i, h[k])][fn_id](img)
        return img
    out = torch.stack([jitter(k) for k in range(x.shape[0])])
    cases.append({"op": "jitter", "order": order, "brightness": b, "contrast": c, "saturation": s, "hue": h, "output": nhwc(out)})
    return cases


def erasing_cases(x):
    cases = []
    for boxes, value in [
        ([(2, 3, 4, 5), (0, 0, 11, 13), (10, 12, 1, 1)], 0.0),
        ([(1, 1, 3, 9), (5, 2, 6, 2), (0, 6, 7, 7)], [0.485, 0.456, 0.406]),
    ]:
        v = torch.tensor(value if isinstance(value, list) else [value] * 3, dtype=torch.float32)[:, None, None]
        out = torch.stack([F.erase(x[k], *boxes[k], v) for k in range(x.shape[0])])
        cases.append({"op": "erase", "boxes": [dict(top=b[0], left=b[1], height=b[2], width=b[3]) for b in boxes], "value": value, "output": nhwc(out)})
    return cases


def randaugment_cases(x):
    """The ops of RandAugment / TrivialAugmentWide on uint8 images (what torchvision defines them on)."""
    from torchvision.transforms import autoaugment as A

    u = (x * 255).round().to(torch.uint8)
    n, _, h, w = u.shape
    cases = []
    ops = [
        ("Identity", [0.0, 0.0, 0.0]),
        ("ShearX", [0.09, -0.3, 0.99]),
        ("ShearY", [-0.09, 0.3, 0.5]),
        ("TranslateX", [3.0, -4.2, 5.9]),
        ("TranslateY", [-2.0, 4.8, 1.0]),
        ("Rotate", [9.0, -30.0, 135.0]),
        ("Brightness", [0.27, -0.9, 0.99]),
        ("Color", [0.27, -0.9, 0.99]),
        ("Contrast", [0.27, -0.9, 0.99]),
        ("Sharpness", [0.27, -0.9, 0.99]),
        ("Posterize", [6.0, 4.0, 2.0]),
        ("Solarize", [246.5, 127.5, 0.0]),
        ("AutoContrast", [0.0, 0.0, 0.0]),
        ("Equalize", [0.0, 0.0, 0.0]),
    ]
    for name, magnitudes in ops:
        out = torch.stack([A._apply_op(u[k], name, magnitudes[k], InterpolationMode.NEAREST, None) for k in range(n)])
        cases.append({"op": name, "magnitudes": magnitudes, "output": [int(v) for v in out.permute(0, 2, 3, 1).reshape(-1).tolist()]})
    space = lambda s: {k: {"magnitudes": [float(m) for m in v[0].reshape(-1).tolist()], "signed": bool(v[1])} for k, v in s.items()}
    return {
        "input": {"shape": [n, h, w, 3], "data": [int(v) for v in u.permute(0, 2, 3, 1).reshape(-1).tolist()]},
        "cases": cases,
        "randaugment": space(A.RandAugment()._augmentation_space(31, (h, w))),
        "trivialaugment": space(A.TrivialAugmentWide()._augmentation_space(31)),
    }


def main():
    x = images()
    shape = [x.shape[0], x.shape[2], x.shape[3], x.shape[1]]
    write("plugin-crop", {"input": {"shape": shape, "data": nhwc(x)}, "cases": crop_cases(x)})
    write("plugin-color", {"input": {"shape": shape, "data": nhwc(x)}, "cases": color_cases(x)})
    write("plugin-erasing", {"input": {"shape": shape, "data": nhwc(x)}, "cases": erasing_cases(x)})
    write("plugin-randaugment", randaugment_cases(x))


if __name__ == "__main__":
    sys.exit(main())
