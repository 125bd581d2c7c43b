"""What the peer scripts share: the timing rule of Benchmarks/PeerWorkloads, its records, and
the thread limit for JAX-based peers (imported by torch_workloads.py, jax_workloads.py and
neural_tangents_workloads.py, which sit beside this file)."""

import math
import os
import time


def limit_threads(threads):
    """For JAX-based peers; must run before jax is imported: XLA reads these when its CPU client starts."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()


def sample(body, warmup, seconds):
    """Sorted call times of `body` in seconds: a warmup of `warmup` seconds (at least one call), then
    single calls until `seconds` have passed and at least 5 were timed, or 4 x `seconds` have passed."""
    start = time.perf_counter()
    while True:
        body()
        if time.perf_counter() - start >= warmup:
            break
    times = []
    start = time.perf_counter()
    while True:
        call_start = time.perf_counter()
        body()
        times.append(time.perf_counter() - call_start)
        elapsed = time.perf_counter() - start
        if elapsed >= 4 * seconds or (elapsed >= seconds and len(times) >= 5) or len(times) >= 100_000:
            break
    return sorted(times)


def quantile(values, q):
    position = q * (len(values) - 1)
    below = int(math.floor(position))
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (position - below)


def record(name, impl, threads, times, **extra):
    result = {"workload": name, "impl": impl, "threads": threads,
              "median_s": quantile(times, 0.5), "min_s": times[0],
              "p25_s": quantile(times, 0.25), "p75_s": quantile(times, 0.75), "samples": len(times)}
    result.update(extra)
    return result
