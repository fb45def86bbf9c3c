#!/usr/bin/python3
"""
Records PyTorch's own trajectories for fermix's optimizer and schedule tests.

    /usr/bin/python3 packages/core/scripts/torch-reference.py   # PyTorch 1.13 (Debian: python3-torch)

(Debian's torch lives in the system Python; a pyenv `python3` on PATH will not see it.)

A fixed two-layer network (5 -> 6 tanh -> 3, softmax cross-entropy) trains for 100 steps on ten
fixed batches of 8, cycled. For every case below, the lr of each step, the loss of each step and
the parameters after steps 50 and 100 go to test/fixtures/torch/<case>.json; the data and the
initial parameters go to test/fixtures/torch/problem.json. test/torch-reference.test.ts runs the
same problem through fermix's optimizers and schedules and compares. Everything is float32, as
in tfjs. Schedulers are stepped once per optimisation step; `stepsPerEpoch` tells fermix how many
steps its epoch-based settings stand for.
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float32)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'torch')
STEPS = 100
SPE = 10  # steps per epoch, for the fermix side
EPOCHS = STEPS // SPE
BATCHES = 10
B, D, H, K = 8, 5, 6, 3


def problem():
    g = torch.Generator().manual_seed(12)
    xs = [torch.randn(B, D, generator=g) for _ in range(BATCHES)]
    ys = [torch.nn.functional.one_hot(torch.randint(0, K, (B,), generator=g), K).float() for _ in range(BATCHES)]
    init = {
        'w1': torch.randn(D, H, generator=g) * 0.5,
        'b1': torch.randn(H, generator=g) * 0.1,
        'w2': torch.randn(H, K, generator=g) * 0.5,
        'b2': torch.randn(K, generator=g) * 0.1,
    }
    return xs, ys, init


def loss_of(p, x, y):
    h = torch.tanh(x @ p['w1'] + p['b1'])
    logits = h @ p['w2'] + p['b2']
    return -(y * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def make_optimizer(groups, o):
    name, lr, wd = o['name'], o['lr'], o.get('weightDecay', 0.01 if o['name'] == 'adamw' else 0.0)
    for gr in groups:
        gr.setdefault('weight_decay', wd)
    if name == 'sgd':
        return torch.optim.SGD(groups, lr=lr, momentum=o.get('momentum', 0.0), nesterov=o.get('nesterov', False))
    if name == 'adam':
        return torch.optim.Adam(groups, lr=lr, betas=tuple(o.get('betas', (0.9, 0.999))), eps=o.get('eps', 1e-8))
    if name == 'adamw':
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(o.get('betas', (0.9, 0.999))), eps=o.get('eps', 1e-8))
    if name == 'rmsprop':
        return torch.optim.RMSprop(groups, lr=lr, alpha=o.get('alpha', 0.99), eps=o.get('eps', 1e-8), momentum=o.get('momentum', 0.0))
    raise ValueError(name)


def make_scheduler(opt, s):
    """The PyTorch scheduler for a fermix schedule setting, in steps (fermix's epochs x SPE)."""
    name = s['name']
    sl = torch.optim.lr_scheduler
    if name == 'constant':
        return None
    if name == 'step':
        return sl.MultiStepLR(opt, milestones=[round(m * SPE) for m in s['milestones']], gamma=s.get('gamma', 0.1))
    if name == 'exponential':
        return sl.ExponentialLR(opt, gamma=s.get('gamma', 0.95) ** (1 / SPE))
    if name == 'cosine':
        warmup = s.get('warmupSteps', round(s.get('warmupEpochs', 0) * SPE))
        cosine = sl.CosineAnnealingLR(opt, T_max=STEPS - warmup, eta_min=s.get('minLr', 0.0))
        if warmup == 0:
            return cosine
        linear = sl.LinearLR(opt, start_factor=s.get('warmupStartFactor', 0.01), end_factor=1.0, total_iters=warmup)
        return sl.SequentialLR(opt, [linear, cosine], milestones=[warmup])
    if name == 'onecycle':
        return sl.OneCycleLR(opt, max_lr=opt.param_groups[0]['lr'], total_steps=STEPS, pct_start=s.get('pctStart', 0.3),
                             div_factor=s.get('divFactor', 25.0), final_div_factor=s.get('finalDivFactor', 1e4),
                             anneal_strategy='cos', cycle_momentum=False)
    if name == 'plateau':
        return sl.ReduceLROnPlateau(opt, mode=s.get('mode', 'min'), factor=s.get('factor', 0.1), patience=s.get('patience', 10),
                                    threshold=s.get('threshold', 1e-4), cooldown=s.get('cooldown', 0), min_lr=s.get('minLr', 0.0))
    raise ValueError(name)


def run(case, xs, ys, init):
    p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    o = case['optimizer']
    if o.get('noDecayForNormAndBias'):
        groups = [{'params': [p['w1'], p['w2']]}, {'params': [p['b1'], p['b2']], 'weight_decay': 0.0}]
    else:
        groups = [{'params': [p['w1'], p['b1'], p['w2'], p['b2']]}]
    opt = make_optimizer(groups, o)
    schedule = case.get('schedule', {'name': 'constant'})
    sched = make_scheduler(opt, schedule)
    lrs, losses, at = [], [], {}
    for t in range(STEPS):
        lrs.append(opt.param_groups[0]['lr'])
        opt.zero_grad()
        loss = loss_of(p, xs[t % BATCHES], ys[t % BATCHES])
        loss.backward()
        if case.get('clipNorm'):
            torch.nn.utils.clip_grad_norm_(list(p.values()), case['clipNorm'])
        opt.step()
        losses.append(loss.item())
        if schedule['name'] == 'plateau':
            if (t + 1) % SPE == 0:
                sched.step(case['plateauMetrics'][t // SPE])
        elif sched is not None:
            sched.step()
        if t + 1 in (50, STEPS):
            at[str(t + 1)] = {k: v.detach().flatten().tolist() for k, v in p.items()}
    return {'lrs': lrs, 'losses': losses, 'params': at}


SGD = {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9}
CASES = {
    'sgd': {'optimizer': {'name': 'sgd', 'lr': 0.1}},
    'sgd-wd': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'weightDecay': 0.01}},
    'sgd-momentum': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9}},
    'sgd-momentum-wd': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9, 'weightDecay': 0.01}},
    'sgd-nesterov': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9, 'nesterov': True}},
    'sgd-nesterov-wd': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.01}},
    'sgd-nesterov-wd-nodecay-norm-bias': {'optimizer': {'name': 'sgd', 'lr': 0.1, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.01, 'noDecayForNormAndBias': True}},
    'adam': {'optimizer': {'name': 'adam', 'lr': 0.01}},
    'adam-wd': {'optimizer': {'name': 'adam', 'lr': 0.01, 'weightDecay': 0.01}},
    'adam-betas-eps': {'optimizer': {'name': 'adam', 'lr': 0.01, 'betas': [0.8, 0.99], 'eps': 1e-6}},
    'adamw': {'optimizer': {'name': 'adamw', 'lr': 0.01, 'weightDecay': 0.0}},
    'adamw-wd': {'optimizer': {'name': 'adamw', 'lr': 0.01, 'weightDecay': 0.1}},
    'adamw-wd-nodecay-norm-bias': {'optimizer': {'name': 'adamw', 'lr': 0.01, 'weightDecay': 0.1, 'noDecayForNormAndBias': True}},
    'rmsprop': {'optimizer': {'name': 'rmsprop', 'lr': 0.01}},
    'rmsprop-wd': {'optimizer': {'name': 'rmsprop', 'lr': 0.01, 'weightDecay': 0.01}},
    'rmsprop-momentum': {'optimizer': {'name': 'rmsprop', 'lr': 0.01, 'momentum': 0.9}},
    'rmsprop-momentum-wd': {'optimizer': {'name': 'rmsprop', 'lr': 0.01, 'momentum': 0.9, 'weightDecay': 0.01}},
    'clip-norm': {'optimizer': SGD, 'clipNorm': 0.25},
    'schedule-constant': {'optimizer': SGD, 'schedule': {'name': 'constant'}},
    'schedule-step': {'optimizer': SGD, 'schedule': {'name': 'step', 'milestones': [3, 7], 'gamma': 0.1}},
    'schedule-cosine': {'optimizer': SGD, 'schedule': {'name': 'cosine', 'minLr': 0.001}},
    'schedule-cosine-warmup': {'optimizer': SGD, 'schedule': {'name': 'cosine', 'warmupEpochs': 1, 'warmupStartFactor': 0.1, 'minLr': 0.001}},
    'schedule-cosine-warmup-steps': {'optimizer': {'name': 'adamw', 'lr': 0.01, 'weightDecay': 0.05}, 'schedule': {'name': 'cosine', 'warmupSteps': 15}},
    'schedule-onecycle': {'optimizer': SGD, 'schedule': {'name': 'onecycle'}},
    'schedule-exponential': {'optimizer': SGD, 'schedule': {'name': 'exponential', 'gamma': 0.7}},
    'schedule-plateau': {'optimizer': SGD, 'schedule': {'name': 'plateau', 'patience': 1, 'factor': 0.5, 'cooldown': 1},
                         'plateauMetrics': [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85]},
}


def main():
    os.makedirs(OUT, exist_ok=True)
    xs, ys, init = problem()
    with open(os.path.join(OUT, 'problem.json'), 'w') as f:
        json.dump({
            'torch': torch.__version__, 'steps': STEPS, 'stepsPerEpoch': SPE, 'epochs': EPOCHS,
            'shapes': {'x': [B, D], 'y': [B, K], 'w1': [D, H], 'b1': [H], 'w2': [H, K], 'b2': [K]},
            'xs': [x.flatten().tolist() for x in xs], 'ys': [y.flatten().tolist() for y in ys],
            'init': {k: v.flatten().tolist() for k, v in init.items()},
        }, f)
    for name, case in CASES.items():
        result = run(case, xs, ys, init)
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump({'name': name, **case, **result}, f)
        print(f'{name}: final loss {result["losses"][-1]:.6f}')


if __name__ == '__main__':
    main()
