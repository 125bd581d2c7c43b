#!/usr/bin/env python3
"""JAX's side of scripts/compare-peers: the training workloads of Benchmarks/PeerWorkloads in JAX.

    python jax_workloads.py [--threads N] [--seconds S] WORKLOAD...
    python jax_workloads.py --list

Prints one JSON object a line: first {"runtime": {...}}, then one {"workload": ..., "median_s": ...}
per workload and implementation. Needs `pip install jax optax` (the current releases; CPU only).
Float64 throughout where the workload says f64 (`jax_enable_x64`).

Workloads (names shared with Benchmarks/PeerWorkloads and torch_workloads.py):
- step-w<width>-h<hidden>-b<batch>-<f32|f64>-<ln|noln>: one training step of the same MLP as
  torch_workloads.py (Linear, [LayerNorm after the first], ReLU, ..., Linear; Kaiming-normal weights,
  biases N(0, 0.1^2); `optax.adam(1e-3)`, whose update is PyTorch's Adam with its defaults) on a full
  batch of x ~ U(-1, 1), y = sin(3x), written as a JAX user writes it: `jax.jit` of
  (params, state) -> (params, state, loss) through `jax.value_and_grad`, the buffers donated. Two
  implementations: `jax (jit)` calls the step from a Python loop (one dispatch a step, as most
  training loops run), `jax (lax.scan)` runs 100 steps inside one `lax.scan` and reports the time
  of one step. Compilation happens in the warmup and is reported apart (`compile_s`).
- paper-toy: configs/paper-toy.json's sweep (3 targets x 4 LayerNorm placements x 5 seeds, 3000
  full-batch Adam steps at lr 1e-3 of the width-128, 2-hidden-layer MLP on 100 points), written as
  a JAX user writes it: for each target and placement one jitted function trains the 5 seeds at
  once (`vmap` over seeds) with the epochs in a `lax.scan`, keeping the loss of every epoch (as
  `train` does, to stop on divergence); then f(lambda x) along the training inputs for
  lambda = 10^(k/4), k = 0..16, and the parameters saved with `numpy.savez` into a temporary
  folder. Placements differ in structure (4 compilations); targets only in data (x and y are
  arguments, so each placement's compiled function serves its 3 targets). `median_s` is the whole sweep including compilation; `compile_s` is the
  compilation alone (`jit(...).lower(...).compile()`), `run_s` the rest. `--precision f32` runs it
  in float32 (workload name paper-toy-f32).

Timing, as Benchmarks/PeerWorkloads: a warmup of --warmup seconds (at least one call: jit compiles
there), then single calls (each to `block_until_ready`) until --seconds have passed and at least 5
were timed, or 4 x --seconds have passed.
Threads: XLA's CPU backend sizes its thread pool from the CPUs this process may run on, so with
--threads N below the machine's CPU count this script first restricts itself to N of them
(`os.sched_setaffinity`) and turns Eigen's multithreading off for N = 1.
"""

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time

from peer_timing import limit_threads, record, sample

KNOWN_WORKLOADS = [
    "step-w128-h2-b100-f64-ln", "step-w128-h2-b100-f64-noln",
    "step-w512-h4-b256-f32-ln", "step-w512-h4-b256-f32-noln",
    "step-w2048-h2-b256-f32-ln", "step-w2048-h2-b256-f32-noln",
    "paper-toy", "paper-toy-f32",
]
STEP = re.compile(r"^step-w(\d+)-h(\d+)-b(\d+)-(f32|f64)-(ln|noln)$")
SCAN_STEPS = 100


def cpu_seconds():
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The network ----------------------------------------------------------------------------------

def init_mlp(key, width, hidden_layers, dtype, inputs=1):
    """Kaiming-normal weights (std sqrt(2 / fan_in)), biases N(0, 0.1^2); LayerNorm gamma 1, beta 0."""
    import jax
    import jax.numpy as jnp
    params = []
    fan_in = inputs
    for index in range(hidden_layers + 1):
        fan_out = 1 if index == hidden_layers else width
        key, weight_key, bias_key = jax.random.split(key, 3)
        params.append({
            "weight": jax.random.normal(weight_key, (fan_in, fan_out), dtype) * math.sqrt(2 / fan_in),
            "bias": jax.random.normal(bias_key, (fan_out,), dtype) * 0.1,
            "gamma": jnp.ones((fan_out,), dtype), "beta": jnp.zeros((fan_out,), dtype),
        })
        fan_in = fan_out
    return params


def mlp_apply(params, x, layer_norm_after):
    """Linear, [LayerNorm (eps 1e-5, affine)], ReLU, ..., Linear. Unused gamma/beta get zero gradients."""
    import jax
    import jax.numpy as jnp
    hidden = len(params) - 1
    for index, layer in enumerate(params):
        x = x @ layer["weight"] + layer["bias"]
        if index == hidden:
            break
        if index in layer_norm_after:
            mean = jnp.mean(x, axis=-1, keepdims=True)
            variance = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
            x = (x - mean) * jax.lax.rsqrt(variance + 1e-5) * layer["gamma"] + layer["beta"]
        x = jax.nn.relu(x)
    return x


def make_step(layer_norm_after, learning_rate=1e-3):
    """(params, optimizer state, x, y) -> (params, state, loss): one full-batch Adam step on the MSE."""
    import jax
    import jax.numpy as jnp
    import optax
    optimizer = optax.adam(learning_rate)

    def loss_fn(params, x, y):
        return jnp.mean(jnp.square(mlp_apply(params, x, layer_norm_after) - y))

    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss
    return optimizer, step


# Training step --------------------------------------------------------------------------------

def training_step(width, hidden_layers, batch, dtype, layer_norm, scanned):
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(1)
    layer_norm_after = {0} if layer_norm else set()
    params = init_mlp(key, width, hidden_layers, dtype)
    optimizer, step = make_step(layer_norm_after)
    state = optimizer.init(params)
    x = jax.random.uniform(jax.random.PRNGKey(2), (batch, 1), dtype, -1, 1)
    y = jnp.sin(3 * x)
    if scanned:
        def many(params, state):
            def body(carry, _):
                params, state = carry
                params, state, loss = step(params, state, x, y)
                return (params, state), loss
            (params, state), losses = jax.lax.scan(body, (params, state), None, length=SCAN_STEPS)
            return params, state, losses[-1]
        function = jax.jit(many, donate_argnums=(0, 1))
    else:
        function = jax.jit(lambda params, state: step(params, state, x, y), donate_argnums=(0, 1))
    start = time.perf_counter()
    compiled = function.lower(params, state).compile()
    compile_seconds = time.perf_counter() - start
    box = {"params": params, "state": state}

    def call():
        box["params"], box["state"], loss = compiled(box["params"], box["state"])
        loss.block_until_ready()
    return call, compile_seconds


# The paper-toy sweep --------------------------------------------------------------------------

PLACEMENTS = {"no-ln": set(), "ln-first": {0}, "ln-last": {1}, "ln-every": {0, 1}}
SEEDS = [0, 1, 2, 3, 4]


def paper_toy(epochs, dtype, folder):
    """The whole sweep once; returns (seconds, compile seconds, cpu seconds, how)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    targets = {"sin": lambda x: jnp.sin(math.pi * x), "linear": lambda x: x, "quadratic": lambda x: x * x}
    lambdas = jnp.asarray([10 ** (k / 4) for k in range(17)], dtype)
    start = time.perf_counter()
    cpu_start = cpu_seconds()
    compile_seconds = 0.0
    for placement, layer_norm_after in PLACEMENTS.items():
        optimizer, step = make_step(layer_norm_after)

        def train_one(key, x, y):
            params = init_mlp(key, 128, 2, dtype)
            state = optimizer.init(params)

            def body(carry, _):
                params, state = carry
                params, state, loss = step(params, state, x, y)
                return (params, state), loss
            (params, _), losses = jax.lax.scan(body, (params, state), None, length=epochs)
            far = jnp.abs(jax.vmap(lambda scale: mlp_apply(params, scale * x, layer_norm_after))(lambdas))
            return params, losses, far.reshape(len(lambdas), -1)

        train_seeds = jax.jit(jax.vmap(train_one))
        compiled = None
        for target, y_of in targets.items():
            keys = jnp.stack([jax.random.PRNGKey(seed) for seed in SEEDS])
            x = jax.vmap(lambda key: jax.random.uniform(jax.random.fold_in(key, 1), (100, 1), dtype, -1, 1))(keys)
            y = y_of(x)
            if compiled is None:
                compile_start = time.perf_counter()
                compiled = train_seeds.lower(keys, x, y).compile()
                compile_seconds += time.perf_counter() - compile_start
            params, losses, far = compiled(keys, x, y)
            losses = np.asarray(losses)
            if not np.all(np.isfinite(losses)):
                raise RuntimeError("%s.%s diverged" % (target, placement))
            maximum = np.asarray(far).max(axis=2)
            exponents = (np.log(maximum[:, -1]) - np.log(maximum[:, -5])) / math.log(10)
            for index, seed in enumerate(SEEDS):
                name = "%s.%s-seed%d" % (target, placement, seed)
                arrays = {"%d.%s" % (layer, key): np.asarray(value[index])
                          for layer, entry in enumerate(params) for key, value in entry.items()}
                np.savez(os.path.join(folder, name + ".npz"), **arrays)
                with open(os.path.join(folder, name + ".json"), "w") as file:
                    json.dump({"losses": losses[index, 9::10].tolist(), "max_abs": maximum[index].tolist(),
                               "growth_exponent": float(exponents[index])}, file)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    how = ("60 runs x %d epochs, per target and placement one jit of vmap over 5 seeds of a lax.scan over "
           "epochs; compilation %.1f s of it" % (epochs, compile_seconds))
    return seconds, compile_seconds, cpu, how


# Main -----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=3000, help="epochs per paper-toy run (3000 as the config)")
    parser.add_argument("--list", action="store_true")
    options = parser.parse_args()
    if options.list:
        print("\n".join(KNOWN_WORKLOADS))
        return
    if options.threads < 1:
        parser.error("--threads must be at least 1")
    if not options.workloads:
        parser.error("name at least one workload (--list shows them)")
    for name in options.workloads:
        if name not in ("paper-toy", "paper-toy-f32") and not STEP.match(name):
            parser.error("unknown workload %s (--list shows them)" % name)

    limit_threads(options.threads)
    try:
        import jax
        import optax  # noqa: F401
    except ImportError:
        print("jax or optax is not installed for %s: pip install jax optax" % sys.executable, file=sys.stderr)
        sys.exit(3)
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp
    print(json.dumps({"runtime": {
        "side": "jax", "version": jax.__version__, "threads": options.threads,
        "cpus": len(os.sched_getaffinity(0)), "devices": [str(device) for device in jax.devices()],
    }}), flush=True)
    for name in options.workloads:
        if name.startswith("paper-toy"):
            dtype = jnp.float32 if name == "paper-toy-f32" else jnp.float64
            with tempfile.TemporaryDirectory(prefix="jax-paper-toy-") as folder:
                seconds, compile_seconds, cpu, how = paper_toy(options.epochs, dtype, folder)
            print(json.dumps(record(name, "jax", options.threads, [seconds], cpu_s=cpu,
                                    compile_s=compile_seconds, run_s=seconds - compile_seconds, how=how)), flush=True)
            continue
        match = STEP.match(name)
        width, hidden, batch = (int(match.group(i)) for i in (1, 2, 3))
        dtype = jnp.float64 if match.group(4) == "f64" else jnp.float32
        for scanned, impl in [(False, "jax (jit)"), (True, "jax (lax.scan)")]:
            call, compile_seconds = training_step(width, hidden, batch, dtype, match.group(5) == "ln", scanned)
            times = sample(call, options.warmup, options.seconds)
            if scanned:
                times = [t / SCAN_STEPS for t in times]
            print(json.dumps(record(name, impl, options.threads, times, compile_s=compile_seconds)), flush=True)


if __name__ == "__main__":
    main()
