#!/usr/bin/env python3
"""neural-tangents' side of scripts/compare-peers: the NTK workloads of Benchmarks/PeerWorkloads.

    python neural_tangents_workloads.py [--threads N] [--seconds S] [--implementation I] WORKLOAD...
    python neural_tangents_workloads.py --list

Prints one JSON object a line: first {"runtime": {...}}, then one {"workload": ..., "median_s": ...}
per workload and implementation. Needs
`pip install neural-tangents jax==0.4.23 jaxlib==0.4.23 "numpy<2" "scipy<1.13"`.

The network, as `TangentKernelWorkloads.layerNormNetwork` in Swift: 8 inputs,
3 x (stax.Dense(512, W_std=sqrt(2), b_std=0.1), stax.LayerNorm() (no affine parameters,
eps 1e-12), stax.Relu()), stax.Dense(1, W_std=sqrt(2), b_std=0.1); NTK parameterization; Float64
(`jax_enable_x64`); inputs x ~ N(0, 1), N x 8; every kernel is x with itself (x2 = None).
- entk-n<N>: the empirical NTK, N x N, of the network at its initialisation, by
  `jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0, implementation=...))`, for each of
  --implementation: `default` (JACOBIAN_CONTRACTION, the library's default) and `structured`
  (STRUCTURED_DERIVATIVES). The default one takes ~40 s at N = 1024: compare-peers --quick asks
  for entk-n256 with it.
  entk-n<N>-w<W>: the same at width W.
- antk-n<N>: the analytic NTK (with the NNGP kernel) by `jit(kernel_fn)(x, None, ("nngp", "ntk"))`.
- antk-fit-n<N>: the analytic NTK and a kernel regression fitted on it, as a JAX user writes it:
  `jax.scipy.linalg.cho_factor` and `cho_solve` of the NTK with random targets (scripts/scaling).
Each record carries the process's peak resident size so far (`peak_rss_bytes`).

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
import resource
import sys
import time

from peer_timing import limit_threads, quantile, sample

KNOWN_WORKLOADS = ["entk-n256", "entk-n1024", "antk-n1024", "antk-n4096"]
IMPLEMENTATIONS = {"default": "JACOBIAN_CONTRACTION", "structured": "STRUCTURED_DERIVATIVES"}
ENTK = re.compile(r"^entk-n(\d+)(?:-w(\d+))?$")
ANTK = re.compile(r"^antk-(fit-)?n(\d+)$")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--implementation", action="append", choices=sorted(IMPLEMENTATIONS),
                        help="for entk workloads; repeat for both (default: structured and default)")
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
        if not (ENTK.match(name) or ANTK.match(name)):
            parser.error("unknown workload %s (--list shows them)" % name)
    implementations = options.implementation or ["structured", "default"]

    limit_threads(options.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # neural-tangents imports TensorFlow: keep it quiet
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jax.config.update("jax_platforms", "cpu")
        import jax.numpy as jnp
        import neural_tangents as nt
        from neural_tangents import stax
    except ImportError as error:
        print("neural-tangents is not installed for %s (%s): pip install neural-tangents jax==0.4.23 "
              "jaxlib==0.4.23 \"numpy<2\" \"scipy<1.13\"" % (sys.executable, error), file=sys.stderr)
        sys.exit(3)

    inputs = 8

    def network(width):
        layers = []
        for _ in range(3):
            layers += [stax.Dense(width, W_std=math.sqrt(2), b_std=0.1), stax.LayerNorm(), stax.Relu()]
        layers.append(stax.Dense(1, W_std=math.sqrt(2), b_std=0.1))
        init_fn, apply_fn, kernel_fn = stax.serial(*layers)
        _, params = init_fn(jax.random.PRNGKey(0), (-1, inputs))
        return apply_fn, kernel_fn, params

    _, kernel_fn, _ = network(512)
    analytic = jax.jit(kernel_fn, static_argnames="get")

    @jax.jit
    def analytic_fit(x, y):
        ntk = kernel_fn(x, None, "ntk")
        factor = jax.scipy.linalg.cho_factor(ntk, lower=True)
        return jax.scipy.linalg.cho_solve(factor, y)

    print(json.dumps({"runtime": {
        "side": "neural-tangents", "version": nt.__version__, "jax": jax.__version__,
        "threads": options.threads, "cpus": len(os.sched_getaffinity(0)),
        "devices": [str(device) for device in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }}), flush=True)

    def emit(name, impl, times):
        print(json.dumps({"workload": name, "impl": impl, "threads": options.threads,
                          "median_s": quantile(times, 0.5), "min_s": times[0],
                          "p25_s": quantile(times, 0.25), "p75_s": quantile(times, 0.75),
                          "samples": len(times),
                          "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)

    for name in options.workloads:
        if ANTK.match(name):
            fit, points = ANTK.match(name).group(1) is not None, int(ANTK.match(name).group(2))
        else:
            points = int(ENTK.match(name).group(1))
        x = jax.random.normal(jax.random.PRNGKey(1), (points, inputs), dtype=jnp.float64)
        if ANTK.match(name) and fit:
            y = jax.random.normal(jax.random.PRNGKey(2), (points,), dtype=jnp.float64)

            def body():
                jax.block_until_ready(analytic_fit(x, y))
            emit(name, "neural-tangents", sample(body, options.warmup, options.seconds))
            continue
        if ANTK.match(name):
            def body():
                kernels = analytic(x, None, ("nngp", "ntk"))
                jax.block_until_ready(kernels)
            emit(name, "neural-tangents", sample(body, options.warmup, options.seconds))
            continue
        apply_fn, _, params = network(int(ENTK.match(name).group(2) or 512))
        for implementation in implementations:
            ntk_fn = jax.jit(nt.empirical_ntk_fn(
                apply_fn, trace_axes=(), vmap_axes=0,
                implementation=getattr(nt.NtkImplementation, IMPLEMENTATIONS[implementation])))

            def body():
                jax.block_until_ready(ntk_fn(x, None, params))
            emit(name, "neural-tangents " + implementation, sample(body, options.warmup, options.seconds))


if __name__ == "__main__":
    main()
