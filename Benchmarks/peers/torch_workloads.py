#!/usr/bin/env python3
"""PyTorch's side of scripts/compare-peers: the workloads of Benchmarks/PeerWorkloads in PyTorch.

    python torch_workloads.py [--threads N] [--seconds S] WORKLOAD...
    python torch_workloads.py --list

Prints one JSON object a line: first {"runtime": {...}}, then one {"workload": ..., "median_s": ...}
a workload. Needs `pip install torch` (the CPU wheel from PyPI is enough).

Workloads (names shared with Benchmarks/PeerWorkloads):
- step-w<width>-h<hidden>-b<batch>-<f32|f64>-<ln|noln>: one training step, written as a PyTorch user
  writes it (`zero_grad`, forward, `F.mse_loss`, `backward`, `Adam.step`, the defaults throughout)
  of the MLP FiniteWidth's `MLPDescription` builds: `nn.Sequential(Linear(1, w), [LayerNorm(w)],
  ReLU(), Linear(w, w), ReLU(), ..., Linear(w, 1))`, LayerNorm (affine, eps 1e-5) after the first
  hidden Linear or none; Kaiming-normal weights, biases N(0, 0.1^2); full batch of x ~ U(-1, 1),
  y = sin(3x).
- entk-n<N>: the empirical NTK (N x N, Float64) with the torch.func recipe of PyTorch's
  "Neural Tangent Kernels" tutorial: per-sample Jacobians by `vmap(jacrev(...))`, contracted by
  einsum (the Jacobian is computed once, since x2 = x1). Network: 8 inputs, 3 x (Dense 512,
  LayerNorm without affine parameters, eps 1e-12, ReLU), Dense 1, NTK parameterization
  (sigma_w = sqrt(2), sigma_b = 0.1). About 20 s at N = 1024 and 4 GiB of Jacobian: use entk-n256
  for a quick look.
- paper-toy: configs/paper-toy.json's sweep: 3 targets x 4 LayerNorm placements x 5 seeds, each
  3000 full-batch Adam steps (lr 1e-3) of the width-128, 2-hidden-layer MLP on 100 points in
  float64, reading the loss every step (as `train` does, to stop on divergence), then f(lambda x)
  along the 100 training inputs for lambda = 10^(k/4), k = 0..16, and the model saved with
  `torch.save` into a temporary folder. With --threads N > 1 the 60 runs go to N worker processes
  (multiprocessing, spawn) of one intra-op thread each, as `train` runs a sweep (one BLAS thread
  per parallel run); `--sweep-mode sequential` runs them one after another with N intra-op threads
  instead. Timed once, as a whole (workers' start-up included; this script's own `import torch`
  not), in wall-clock seconds and in CPU seconds of all its processes (`cpu_s`, which time spent
  waiting for a core shared with other work does not inflate). `--epochs` shortens it
  (compare-peers --quick uses 300). paper-toy-f32: the same in float32.

Timing, as Benchmarks/PeerWorkloads: a warmup of --warmup seconds (at least one call), then single
calls until --seconds have passed and at least 5 were timed, or 4 x --seconds have passed.
Threads: `torch.set_num_threads(N)` (intra-op, which MKL and oneDNN follow), one inter-op thread.
"""

import argparse
import json
import math
import multiprocessing
import os
import re
import sys
import tempfile
import time

from peer_timing import record, sample

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    print("torch is not installed for %s: pip install torch" % sys.executable, file=sys.stderr)
    sys.exit(3)

KNOWN_WORKLOADS = [
    "step-w128-h2-b100-f64-ln", "step-w128-h2-b100-f64-noln",
    "step-w512-h4-b256-f32-ln", "step-w512-h4-b256-f32-noln",
    "step-w2048-h2-b256-f32-ln", "step-w2048-h2-b256-f32-noln",
    "entk-n256", "entk-n1024", "paper-toy", "paper-toy-f32",
]


# Training step --------------------------------------------------------------------------------

def mlp(width, hidden_layers, layer_norm_after, dtype, inputs=1):
    """FiniteWidth's MLPDescription in the standard parameterization: Linear, [LayerNorm], ReLU, ..., Linear."""
    layers = []
    fan_in = inputs
    for index in range(hidden_layers):
        layers.append(nn.Linear(fan_in, width, dtype=dtype))
        if index in layer_norm_after:
            layers.append(nn.LayerNorm(width, eps=1e-5, dtype=dtype))
        layers.append(nn.ReLU())
        fan_in = width
    layers.append(nn.Linear(fan_in, 1, dtype=dtype))
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight)
                module.bias.normal_(0, 0.1)
    return model


def training_step(width, hidden_layers, batch, dtype, layer_norm):
    torch.manual_seed(1)
    model = mlp(width, hidden_layers, {0} if layer_norm else set(), dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, dtype=dtype) * 2 - 1
    y = torch.sin(3 * x)

    def step():
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    return step


# Empirical NTK (torch.func) -------------------------------------------------------------------

class NTKDense(nn.Module):
    """Dense in the NTK parameterization: y = sigma_w / sqrt(fan_in) x W^T + sigma_b b, W and b ~ N(0, 1)."""

    def __init__(self, fan_in, fan_out, weight_std=math.sqrt(2), bias_std=0.1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(fan_out, dtype=torch.float64))
        self.weight_scale = weight_std / math.sqrt(fan_in)
        self.bias_std = bias_std

    def forward(self, x):
        return F.linear(x, self.weight) * self.weight_scale + self.bias * self.bias_std


class PlainLayerNorm(nn.Module):
    """LayerNorm without affine parameters, epsilon 1e-12 (neural-tangents' stax.LayerNorm)."""

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=1e-12)


def layer_norm_network(inputs=8, width=512, hidden_layers=3):
    torch.manual_seed(0)
    layers = []
    fan_in = inputs
    for _ in range(hidden_layers):
        layers += [NTKDense(fan_in, width), PlainLayerNorm(), nn.ReLU()]
        fan_in = width
    layers.append(NTKDense(fan_in, 1))
    return nn.Sequential(*layers)


def empirical_ntk(points, inputs=8):
    from torch.func import functional_call, jacrev, vmap
    network = layer_norm_network(inputs)
    params = {name: value.detach() for name, value in network.named_parameters()}
    x = torch.randn(points, inputs, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    def f_single(params, x):
        return functional_call(network, params, (x.unsqueeze(0),)).squeeze(0)

    def kernel():
        jacobians = vmap(jacrev(f_single), (None, 0))(params, x)
        jacobians = [j.flatten(2) for j in jacobians.values()]  # each N x 1 x P_layer
        return sum(torch.einsum("Naf,Mbf->NMab", j, j) for j in jacobians)[:, :, 0, 0]
    return kernel


# The paper-toy sweep --------------------------------------------------------------------------

TARGETS = {
    "sin": lambda x: torch.sin(math.pi * x),
    "linear": lambda x: x,
    "quadratic": lambda x: x * x,
}
PLACEMENTS = {"no-ln": set(), "ln-first": {0}, "ln-last": {1}, "ln-every": {0, 1}}
SEEDS = [0, 1, 2, 3, 4]


def toy_runs():
    return [(target, placement, seed) for target in TARGETS for placement in PLACEMENTS for seed in SEEDS]


def toy_worker_init():
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)


def toy_run(arguments):
    """One run of the sweep; returns its growth exponent (and writes its model and metrics)."""
    target, placement, seed, epochs, folder, dtype = arguments
    torch.manual_seed(seed)
    x = torch.rand(100, 1, dtype=dtype) * 2 - 1
    y = TARGETS[target](x)
    model = mlp(128, 2, PLACEMENTS[placement], dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        value = loss.item()
        if not math.isfinite(value):
            raise RuntimeError("%s.%s seed %d diverged at epoch %d" % (target, placement, seed, epoch))
        loss.backward()
        optimizer.step()
        if epoch % 10 == 0:
            losses.append(value)
    lambdas = [10 ** (k / 4) for k in range(17)]
    with torch.no_grad():
        far = model(torch.cat([scale * x for scale in lambdas])).abs().reshape(len(lambdas), -1)
    maximum = far.max(dim=1).values
    exponent = float((maximum[-1].log() - maximum[-5].log()) / math.log(10))
    name = "%s.%s-seed%d" % (target, placement, seed)
    torch.save(model.state_dict(), os.path.join(folder, name + ".pt"))
    with open(os.path.join(folder, name + ".json"), "w") as file:
        json.dump({"losses": losses, "max_abs": maximum.tolist(), "mean_abs": far.mean(dim=1).tolist(),
                   "growth_exponent": exponent}, file)
    return exponent


def paper_toy(threads, epochs, mode, dtype=torch.float64):
    """Runs the whole sweep once; returns (seconds, description of how it ran)."""
    with tempfile.TemporaryDirectory(prefix="torch-paper-toy-") as folder:
        runs = [(target, placement, seed, epochs, folder, dtype) for target, placement, seed in toy_runs()]
        start = time.perf_counter()
        cpu_start = cpu_seconds()
        if mode == "pool" and threads > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(threads, initializer=toy_worker_init) as pool:
                exponents = pool.map(toy_run, runs, chunksize=1)
            how = "%d worker processes x 1 intra-op thread" % threads
        else:
            torch.set_num_threads(threads)
            exponents = [toy_run(run) for run in runs]
            how = "sequential, %d intra-op thread(s)" % threads
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_start
    assert len(exponents) == len(runs)
    return seconds, cpu, "%d runs x %d epochs, %s" % (len(runs), epochs, how)


def cpu_seconds():
    """User + system CPU seconds of this process and its finished children (the pool's workers)."""
    import resource
    return sum(usage.ru_utime + usage.ru_stime
               for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


# Main -----------------------------------------------------------------------------------------

STEP = re.compile(r"^step-w(\d+)-h(\d+)-b(\d+)-(f32|f64)-(ln|noln)$")
ENTK = re.compile(r"^entk-n(\d+)$")


def build(name):
    """The operation to time, or None for an unknown name."""
    match = STEP.match(name)
    if match:
        width, hidden, batch = (int(match.group(i)) for i in (1, 2, 3))
        dtype = torch.float64 if match.group(4) == "f64" else torch.float32
        return "torch", training_step(width, hidden, batch, dtype, match.group(5) == "ln")
    match = ENTK.match(name)
    if match:
        return "torch.func (vmap + jacrev)", empirical_ntk(int(match.group(1)))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=3000, help="epochs per paper-toy run (3000 as the config)")
    parser.add_argument("--sweep-mode", choices=["pool", "sequential"], default="pool")
    parser.add_argument("--list", action="store_true")
    options = parser.parse_args()
    if options.list:
        print("\n".join(KNOWN_WORKLOADS))
        return
    if options.threads < 1:
        parser.error("--threads must be at least 1")
    for name in options.workloads:
        if name not in ("paper-toy", "paper-toy-f32") and not (STEP.match(name) or ENTK.match(name)):
            parser.error("unknown workload %s (--list shows them)" % name)
    if not options.workloads:
        parser.error("name at least one workload (--list shows them)")

    torch.set_num_threads(options.threads)
    torch.set_num_interop_threads(1)
    print(json.dumps({"runtime": {
        "side": "torch", "version": torch.__version__, "threads": options.threads,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "blas": "MKL" if torch.backends.mkl.is_available() else "other",
        "mkldnn": torch.backends.mkldnn.is_available(),
    }}), flush=True)
    for name in options.workloads:
        if name in ("paper-toy", "paper-toy-f32"):
            dtype = torch.float64 if name == "paper-toy" else torch.float32
            seconds, cpu, how = paper_toy(options.threads, options.epochs, options.sweep_mode, dtype)
            torch.set_num_threads(options.threads)
            impl = "torch" if options.sweep_mode == "pool" else "torch (sequential)"
            result = record(name, impl, options.threads, [seconds], cpu_s=cpu, how=how)
        else:
            impl, body = build(name)
            result = record(name, impl, options.threads, sample(body, options.warmup, options.seconds))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
