#!/usr/bin/python3
"""PyTorch "step server": one training step of fermix's models, timed, for the CPU benchmark anchor.

Protocol: JSON lines on stdin/stdout (one object per line; every reply is flushed; nothing else is
written to stdout, diagnostics go to stderr).

  start     python3 torch_step.py --threads N
            -> {"ready": true, "threads": <torch.get_num_threads()>, "torch": "<version>"}
  setup     {"cmd": "setup", "model": "small-cnn" | "resnet18", "size": 48, "batch": 32,
             "classes": 7, "seed": 1}
            -> {"ok": true, "params": <count as fermix's model.countParams()>, "trainable": <n>}
  step      {"cmd": "step"}  -> {"ms": <wall ms>, "cpuMs": <process CPU ms>, "loss": <float>}
  quit      {"cmd": "quit"}  -> exits 0 (EOF on stdin exits 0 too)
  error     any failing request -> {"error": "<message>"}

The models reproduce fermix's (packages/backbones/src/small-cnn.ts, resnet.ts, and the head of
packages/core/src/model.ts) layer for layer, with tfjs-layers' numerics where PyTorch's defaults
differ:
  - BatchNormalization: tfjs default epsilon 1e-3 and momentum 0.99; Keras momentum m means
    moving = m * moving + (1 - m) * batch, i.e. PyTorch momentum = 1 - m. small-cnn sets m = 0.9
    (PyTorch 0.1, eps 1e-3); resnet sets epsilon 1.001e-5 and keeps m = 0.99 (PyTorch 0.01).
  - 'same' padding of a stride-2 convolution pads TensorFlow-style (the extra row/column at the
    bottom/right) with an explicit F.pad when the padding is asymmetric.
  - Kernels Glorot-uniform (fermix's initializeKernels), biases 0, BN gamma 1 / beta 0.
  - Adam(lr=1e-3, betas 0.9/0.999, eps=1e-8): torch's defaults, which fermix's `adam` optimizer (the step server's) also uses.
  - Loss: fermix takes softmax probabilities, clips them to [1e-7, 1 - 1e-7] and averages the
    categorical cross-entropy against one-hot targets; here F.cross_entropy on the logits with
    class indices (same maths, without the clipping, which only matters for p < 1e-7).
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    # `python3` may be a pyenv interpreter without Debian's python3-torch: retry with the system one.
    if os.path.realpath(sys.executable) != os.path.realpath('/usr/bin/python3') and os.path.exists('/usr/bin/python3'):
        print('torch_step: torch not importable from %s, re-running with /usr/bin/python3' % sys.executable, file=sys.stderr)
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    raise


def log(*args):
    print('torch_step:', *args, file=sys.stderr, flush=True)


def reply(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


class SameConv2d(nn.Module):
    """tfjs conv2d with padding 'same' (or 'valid'), no bias unless asked.

    TensorFlow's 'same' pads max((ceil(n/s) - 1) * s + k - n, 0) in total, the odd one at the end.
    When that is symmetric it is passed to the convolution; otherwise an F.pad precedes it. The
    input size must be known here (fixed per setup).
    """

    def __init__(self, cin, cout, k, stride, in_size, padding='same', bias=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=0, bias=bias)
        self.pre_pad = None
        if padding == 'same':
            out = -(-in_size // stride)
            total = max((out - 1) * stride + k - in_size, 0)
            before, after = total // 2, total - total // 2
            if before == after:
                self.conv.padding = (before, before)
            else:
                self.pre_pad = (before, after, before, after)  # left, right, top, bottom
            self.out_size = out
        else:
            self.out_size = (in_size - k) // stride + 1

    def forward(self, x):
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return self.conv(x)


def bn(c, keras_momentum, eps):
    return nn.BatchNorm2d(c, eps=eps, momentum=1.0 - keras_momentum)


class SmallCnn(nn.Module):
    """fermix small-cnn: per stage convsPerStage x [3x3 conv (no bias, same), BN(eps 1e-3, momentum
    0.9), ReLU] + 2x2/2 max pooling; then the fermix head: global average pooling, dense softmax."""

    def __init__(self, size, classes, widths=(32, 64, 128), convs_per_stage=2):
        super().__init__()
        layers = []
        cin, s = 3, size
        for w in widths:
            for _ in range(convs_per_stage):
                conv = SameConv2d(cin, w, 3, 1, s)
                layers += [conv, bn(w, 0.9, 1e-3), nn.ReLU(inplace=True)]
                cin = w
            layers.append(nn.MaxPool2d(2, 2))  # tfjs maxPooling2d padding 'valid': floor
            s //= 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.features(x)
        x = x.mean(dim=(2, 3))  # globalAveragePooling2d 'avg_pool'
        return self.fc(x)  # logits; the softmax is in the loss


RESNET_BN_EPS = 1.001e-5
RESNET_BN_MOMENTUM = 0.99  # tfjs default (resnet.ts does not set it)


class BasicBlock(nn.Module):
    """resnet.ts basicBlock: projection shortcut (1x1/stride, no bias, BN) when the stride or the
    width changes; 3x3/stride same -> BN -> ReLU -> 3x3 same -> BN; add; ReLU."""

    def __init__(self, cin, cout, stride, in_size):
        super().__init__()
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(SameConv2d(cin, cout, 1, stride, in_size, padding='valid'),
                                          bn(cout, RESNET_BN_MOMENTUM, RESNET_BN_EPS))
        self.conv1 = SameConv2d(cin, cout, 3, stride, in_size)
        self.bn1 = bn(cout, RESNET_BN_MOMENTUM, RESNET_BN_EPS)
        self.conv2 = SameConv2d(cout, cout, 3, 1, self.conv1.out_size)
        self.bn2 = bn(cout, RESNET_BN_MOMENTUM, RESNET_BN_EPS)
        self.out_size = self.conv1.out_size

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + s, inplace=True)


class ResNet18(nn.Module):
    """resnet.ts resnet18 (defaults widths 64/128/256/512, blocks 2-2-2-2), no preprocessing:
    stem = zero pad 3 + 7x7/2 valid conv (no bias) + BN + ReLU + zero pad 1 + 3x3/2 valid max pool
    (after a ReLU, zero padding equals PyTorch's -inf padding, so MaxPool2d(3, 2, padding=1));
    stages conv2..conv5, first block of stages 3..5 strided; then the fermix head."""

    def __init__(self, size, classes, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
        self.stem_bn = bn(widths[0], RESNET_BN_MOMENTUM, RESNET_BN_EPS)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        s = (size + 6 - 7) // 2 + 1
        s = (s + 2 - 3) // 2 + 1
        cin = widths[0]
        mods = []
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for b in range(n):
                blk = BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1, s)
                mods.append(blk)
                s, cin = blk.out_size, w
        self.blocks = nn.Sequential(*mods)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.stem_bn(self.stem_conv(x)), inplace=True))
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


def init_like_fermix(model):
    """Kernels Glorot uniform (Keras fan in/out = in/out channels x receptive field, which is what
    xavier_uniform_ computes from PyTorch's [out, in, kh, kw] too), biases zero, BN gamma 1 beta 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def count_params(model):
    """fermix reports tfjs' model.countParams(), which counts every weight, trainable or not: for
    batch norm that is gamma, beta AND the moving mean and variance (4 x C per layer). PyTorch keeps
    the moving statistics as buffers (running_mean, running_var, plus an int num_batches_tracked
    that Keras has no counterpart of), so the fermix-equivalent count is the trainable parameters
    plus running_mean and running_var. small-cnn 48x48, 7 classes: 288,359 trainable
    (convs 286,560 + BN gamma/beta 896 + dense 903) + 896 moving stats = 289,255, as fermix."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    moving = sum(b.numel() for name, b in model.named_buffers() if name.endswith(('running_mean', 'running_var')))
    return trainable + moving, trainable


class State:
    model = None
    opt = None
    x = None
    y = None


def setup(req, st):
    name = req.get('model', 'small-cnn')
    size = int(req.get('size', 48))
    batch = int(req.get('batch', 32))
    classes = int(req.get('classes', 7))
    seed = int(req.get('seed', 1))
    torch.manual_seed(seed)
    if name == 'small-cnn':
        opts = req.get('options') or {}
        model = SmallCnn(size, classes, tuple(opts.get('widths', (32, 64, 128))), int(opts.get('convsPerStage', 2)))
    elif name == 'resnet18':
        opts = req.get('options') or {}
        model = ResNet18(size, classes, tuple(opts.get('widths', (64, 128, 256, 512))), tuple(opts.get('blocks', (2, 2, 2, 2))))
    else:
        raise ValueError('%s not supported' % name)
    init_like_fermix(model)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % classes  # class indices: one-hot label i % classes
    st.model, st.x, st.y = model, x, y
    st.opt = torch.optim.Adam(model.parameters(), lr=float(req.get('lr', 1e-3)), betas=(0.9, 0.999), eps=1e-8)
    params, trainable = count_params(model)
    return {'ok': True, 'params': params, 'trainable': trainable}


def step(st):
    if st.model is None:
        raise RuntimeError('step before setup')
    w0, c0 = time.perf_counter(), time.process_time()
    st.opt.zero_grad(set_to_none=True)
    logits = st.model(st.x)
    loss = F.cross_entropy(logits, st.y)
    loss.backward()
    st.opt.step()
    value = loss.item()
    w1, c1 = time.perf_counter(), time.process_time()
    return {'ms': (w1 - w0) * 1000.0, 'cpuMs': (c1 - c0) * 1000.0, 'loss': value}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:  # only possible before any inter-op work has started
        log('set_num_interop_threads:', e)
    st = State()
    reply({'ready': True, 'threads': torch.get_num_threads(), 'torch': torch.__version__})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            cmd = req.get('cmd')
            if cmd == 'quit':
                return 0
            if cmd == 'setup':
                reply(setup(req, st))
            elif cmd == 'step':
                reply(step(st))
            else:
                raise ValueError('unknown cmd %r' % (cmd,))
        except Exception as e:  # noqa: BLE001 - every failure is a reply, the server keeps going
            log('error:', repr(e))
            reply({'error': str(e) or type(e).__name__})
    return 0


if __name__ == '__main__':
    sys.exit(main())
