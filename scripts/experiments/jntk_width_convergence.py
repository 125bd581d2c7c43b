"""The empirical Jacobian NTK converges to the analytic one as width grows (Kim & Yang, ICML 2024).

erf networks, 2 hidden layers, NTK parameterization, sigma_w^2 = 1.5, sigma_b^2 = 0.1, points spread
evenly on the unit sphere in R^d (Hopf coordinates with an R2 low-discrepancy sequence; generated,
no file). For each width, `train ntk --jacobian --empirical` writes the finite network's JNTK at
initialisation (seeded), point-major N(1+d) x N(1+d); the analytic JNTK comes from neural-tangents'
kernel_fn, differentiated per pair with jax.jacfwd(jax.jacrev(...)) in float64. Prints the relative
Frobenius error ||Theta_emp - Theta_inf||_F / ||Theta_inf||_F per width and seed.

    python scripts/experiments/jntk_width_convergence.py --train .build/release/train \
        --widths 256 1024 4096 --points 256 --seeds 0 1
(run with /work/venvs/nt's python: jax 0.4.23, neural-tangents 0.6.5).
"""
import argparse
import json
import os
import subprocess
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from neural_tangents import stax

jax.config.update("jax_enable_x64", True)
SW2, SB2 = 1.5, 0.1


def sphere_points(count, dimension=4):
    """Hopf coordinates (uniform on S^3 when sin^2 eta is uniform) driven by the R2 sequence."""
    assert dimension == 4
    g = 1.32471795724474602596  # plastic number: the R2 sequence's generator
    i = np.arange(count)
    u = (i + 0.5) / count
    xi1, xi2 = 2 * np.pi * ((i / g) % 1), 2 * np.pi * ((i / g ** 2) % 1)
    eta = np.arcsin(np.sqrt(u))
    return np.stack([np.cos(xi1) * np.sin(eta), np.sin(xi1) * np.sin(eta),
                     np.cos(xi2) * np.cos(eta), np.sin(xi2) * np.cos(eta)], axis=1)


def analytic_jntk(x):
    sw, sb = SW2 ** 0.5, SB2 ** 0.5
    _, _, kernel_fn = stax.serial(stax.Dense(1, W_std=sw, b_std=sb), stax.Erf(),
                                  stax.Dense(1, W_std=sw, b_std=sb), stax.Erf(), stax.Dense(1, W_std=sw, b_std=sb))
    k = lambda a, b: kernel_fn(a[None], b[None], "ntk")[0, 0]
    dx, dy = jax.grad(k, 0), jax.grad(k, 1)
    dxdy = jax.jacfwd(jax.jacrev(k, 0), 1)

    def block(a, b):
        top = jnp.concatenate([k(a, b)[None], dy(a, b)])
        bottom = jnp.concatenate([dx(a, b)[:, None], dxdy(a, b)], axis=1)
        return jnp.concatenate([top[None], bottom], axis=0)

    n, d = x.shape
    rows = jax.jit(jax.vmap(lambda a: jax.vmap(lambda b: block(a, b))(x)))
    blocks = np.asarray(rows(jnp.asarray(x)))  # (n, n, 1+d, 1+d)
    return blocks.transpose(0, 2, 1, 3).reshape(n * (1 + d), n * (1 + d))


def empirical_jntk(train, x, width, seed, folder):
    config = {"name": f"jntk-{width}", "seed": seed, "precision": "float64",
              "data": {"kind": "synthetic", "target": "sin", "inputDim": x.shape[1], "trainSize": 10},
              "model": {"hiddenLayers": 2, "width": width, "activation": "erf", "layerNorm": "none",
                        "parameterization": "ntk", "weightStd": SW2 ** 0.5, "biasStd": SB2 ** 0.5}}
    config_path, points_path, out = (os.path.join(folder, n) for n in ("config.json", "points.csv", f"K{width}.csv"))
    with open(config_path, "w") as f:
        json.dump(config, f)
    np.savetxt(points_path, x, delimiter=",", fmt="%.17g")
    subprocess.run([train, "ntk", "--config", config_path, "--x1", points_path, "--jacobian", "--empirical", "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    return np.loadtxt(out, delimiter=",")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", default=".build/release/train")
    parser.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    x = sphere_points(args.points)
    exact = analytic_jntk(x)
    norm = np.linalg.norm(exact)
    with tempfile.TemporaryDirectory() as folder:
        for width in args.widths:
            errors = [np.linalg.norm(empirical_jntk(args.train, x, width, seed, folder) - exact) / norm for seed in args.seeds]
            print(f"width {width}: relative Frobenius error " + ", ".join(f"{e:.4f}" for e in errors)
                  + f" (mean {np.mean(errors):.4f}, {len(errors)} seeds)", flush=True)


if __name__ == "__main__":
    main()
