"""Reference Jacobian NTKs and Jacobian NNGP kernels from google/neural-tangents (float64).

Run with neural-tangents 0.6.5 and jax/jaxlib 0.4.23 (the venv of generate_neural_tangents_layers.py):
    python scripts/reference/generate_jacobian_kernels.py Tests/TangentKernelsTests/Resources
Writes neural_tangents_jacobian_kernels.json.

For a kernel k(x, x') of one pair of points, the Jacobian kernel's (1 + d) x (1 + d) block is
    [[k,          d_x' k^T      ],
     [d_x k,      d_x d_x'^T k  ]]
(Kim & Yang, ICML 2024): row a of the block is the output g_a(x) = (f(x), df/dx_1, ..., df/dx_d),
column b is g_b(x'). neural-tangents' kernel_fn is differentiable in its inputs, so each block is
jax.jacfwd / jax.jacrev of kernel_fn(x[None], x'[None]) in x and x' (nothing here is a
transcription of FiniteWidth's formulas). The whole matrix is point-major: rows
(x1_1, d_1 at x1_1, ..., d_d at x1_1, x1_2, ...), columns likewise over x2.
NTK parameterization, W_std = sqrt(1.5), b_std = sqrt(0.1), 512 units a hidden layer (the
width does not enter the kernels); input kernel K0 = x . x' / d, as FiniteWidth's; LayerNorm
without affine parameters and neural-tangents' epsilon 1e-12.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from neural_tangents import stax

W_STD, B_STD = 1.5 ** 0.5, 0.1 ** 0.5


def dense(width=512):
    return stax.Dense(width, W_std=W_STD, b_std=B_STD, parameterization="ntk")


# Each architecture as neural-tangents layers and as the layer list the Swift test builds.
ARCHITECTURES = {
    "erf2": ([dense(), stax.Erf(), dense(), stax.Erf(), dense(1)], "Dense, Erf, Dense, Erf, Dense(1)"),
    "erf1LayerNorm": ([dense(), stax.LayerNorm(), stax.Erf(), dense(), stax.Erf(), dense(1)],
                      "Dense, LayerNorm, Erf, Dense, Erf, Dense(1)"),
    "gelu2": ([dense(), stax.Gelu(approximate=False), dense(), stax.Gelu(approximate=False), dense(1)],
              "Dense, GELU, Dense, GELU, Dense(1)"),
}

# The acceptance pair of issue 16 first; x2 repeats x1's first point, so one block is a point
# against itself (the diagonal block of a Gram matrix).
X1 = np.array([[0.3, -0.5, 0.8], [1.2, 0.7, -0.4]])
X2 = np.array([[-0.2, 0.4, 0.1], [0.3, -0.5, 0.8], [-1.5, 2.0, 0.6]])


def jacobian_kernel_blocks(kernel_fn, which):
    def k(x, y):
        return kernel_fn(x[None], y[None], which)[0, 0]

    d_y = jax.grad(k, argnums=1)
    d_x = jax.grad(k, argnums=0)
    # jacfwd in x of the gradient in y is [j, i]; transposed, [i, j] = d2 k / dx_i dy_j.
    d_x_d_y = lambda x, y: jax.jacfwd(jax.grad(k, argnums=1), argnums=0)(x, y).T

    def block(x, y):
        top = jnp.concatenate([k(x, y)[None], d_y(x, y)])
        bottom = jnp.concatenate([d_x(x, y)[:, None], d_x_d_y(x, y)], axis=1)
        return jnp.concatenate([top[None, :], bottom], axis=0)

    return jax.jit(block)


def whole_matrix(block, x1, x2):
    d = x1.shape[1]
    matrix = np.zeros((len(x1) * (1 + d), len(x2) * (1 + d)))
    for p, x in enumerate(x1):
        for q, y in enumerate(x2):
            matrix[p * (1 + d):(p + 1) * (1 + d), q * (1 + d):(q + 1) * (1 + d)] = np.asarray(block(x, y))
    return matrix


def main(folder):
    out = {"W_std": W_STD, "b_std": B_STD, "x1": X1.tolist(), "x2": X2.tolist(),
           "layout": "point-major: (f, d_1 f, ..., d_d f) per point; rows x1, columns x2", "architectures": {}}
    for name, (layers, description) in ARCHITECTURES.items():
        _, _, kernel_fn = stax.serial(*layers)
        entry = {"layers": description}
        for which in ("ntk", "nngp"):
            entry[which] = whole_matrix(jacobian_kernel_blocks(kernel_fn, which), X1, X2).tolist()
            # The plain kernel between the points, as a check of the layout.
            entry[which + "Values"] = np.asarray(kernel_fn(X1, X2, which)).tolist()
        out["architectures"][name] = entry
    with open(f"{folder}/neural_tangents_jacobian_kernels.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    erf = np.array(out["architectures"]["erf2"]["ntk"])
    print("erf2 Theta(x, x') =", repr(erf[0, 0]), " d_x d_x'^T Theta row 1 =", erf[1, 1:4])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
