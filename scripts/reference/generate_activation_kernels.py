"""Reference values for the erf and numerical (quadrature) kernel maps and the mean-field quantities.

Run with neural-tangents 0.6.5, jax/jaxlib 0.4.23 and scipy (the venv of
generate_neural_tangents_layers.py):
    python scripts/reference/generate_activation_kernels.py Tests/TangentKernelsTests/Resources
Writes activation_kernels.json:
- "erf": NNGP and NTK of Dense(ntk), Erf, Dense(ntk), Erf, Dense(1) from neural-tangents' stax.Erf()
  (a=1, b=1, c=0), W_std = 1.5, b_std = 0.3, for x1 against s * x2, s in 1 and 10;
- "pairs": for tanh, sigmoid, silu, gelu_tanh and (K11, K22, K12) triples with pre-activation
  variances from 0.05 to 10, E[phi(u) phi(v)] and E[phi'(u) phi'(v)] by composite Gauss-Legendre
  quadrature on [-12, 12]^2 (panels of width 1/4, 16 points each; checked against panels of width
  1/2 to 1e-12, so independent of FiniteWidth's trapezoidal rule and of Gauss-Hermite; scipy's
  dblquad agrees but takes hours on a shared machine);
- "critical": the critical sigma_w^2 (chi_1 = 1 on the variance fixed point) for tanh and erf at
  sigma_b^2 = 0.1, 0.5, 1.0, by scipy quad for the Gaussian expectations and brentq for the root.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np
from neural_tangents import stax
from scipy import integrate, optimize, special

LIMIT = 12.0  # |z| beyond this carries less than 1e-32 of the Gaussian mass


def sigmoid(x):
    return 0.5 * (1 + np.tanh(x / 2))


A, C = np.sqrt(2 / np.pi), 0.044715
FUNCTIONS = {
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x))),
    "silu": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * (1 - sigmoid(x)))),
    "gelu_tanh": (lambda x: x * (1 + np.tanh(A * (x + C * x ** 3))) / 2,
                  lambda x: ((1 + np.tanh(A * (x + C * x ** 3)))
                             + x * (1 - np.tanh(A * (x + C * x ** 3)) ** 2) * A * (1 + 3 * C * x * x)) / 2),
    "erf": (special.erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
}


def composite_gauss_legendre(panel_width, points_per_panel=16):
    """Nodes and weights of composite Gauss-Legendre on [-LIMIT, LIMIT], times the normal density."""
    x, w = np.polynomial.legendre.leggauss(points_per_panel)
    edges = np.arange(-LIMIT, LIMIT + panel_width / 2, panel_width)
    half = panel_width / 2
    nodes = np.concatenate([left + half * (x + 1) for left in edges[:-1]])
    weights = np.concatenate([half * w for _ in edges[:-1]]) * np.exp(-nodes ** 2 / 2) / np.sqrt(2 * np.pi)
    return nodes, weights


def gaussian_pair_expectation(f, k11, k22, k12, panel_width=0.25):
    """E[f(u) f(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]), u = a z1, v = b (c z1 + s z2)."""
    a, b = np.sqrt(k11), np.sqrt(k22)
    c = k12 / (a * b)
    s = np.sqrt(max(0.0, 1 - c * c))
    z, w = composite_gauss_legendre(panel_width)
    outer = w * f(a * z)
    if s == 0:
        return float(np.sum(outer * f(b * c * z)))
    total = 0.0
    for start in range(0, len(z), 512):  # rows of the 2-D grid in blocks, to bound memory
        block = slice(start, start + 512)
        inner = f(b * (c * z[block, None] + s * z[None, :])) @ w
        total += float(np.sum(outer[block] * inner))
    return total


def checked_pair_expectation(f, k11, k22, k12):
    fine = gaussian_pair_expectation(f, k11, k22, k12)
    coarse = gaussian_pair_expectation(f, k11, k22, k12, panel_width=0.5)
    assert abs(fine - coarse) <= 1e-12 * max(1.0, abs(fine)), (k11, k22, k12, fine, coarse)
    return fine


def gaussian_expectation(f, q):
    return integrate.quad(lambda z: f(np.sqrt(q) * z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -LIMIT, LIMIT,
                          epsabs=1e-15, epsrel=1e-13, limit=1000, points=[0.0])[0]


def critical_weight_variance(name, bias_variance):
    phi, derivative = FUNCTIONS[name]

    def chi(weight_variance):
        q = 1.0
        for _ in range(10000):
            following = weight_variance * gaussian_expectation(lambda x: phi(x) ** 2, q) + bias_variance
            if abs(following - q) < 1e-15 * max(1.0, q):
                break
            q = following
        return weight_variance * gaussian_expectation(lambda x: derivative(x) ** 2, following)

    return optimize.brentq(lambda w: chi(w) - 1, 1.01, 10.0, xtol=1e-13)


if __name__ == "__main__":
    out = sys.argv[1]
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((5, 3))
    x2 = rng.standard_normal((4, 3))
    w_std, b_std = 1.5, 0.3
    dense = lambda width: stax.Dense(width, W_std=w_std, b_std=b_std, parameterization="ntk")
    _, _, kernel_fn = stax.serial(dense(512), stax.Erf(), dense(512), stax.Erf(), dense(1))
    erf_cases = {}
    for scale in (1.0, 10.0):
        k = kernel_fn(x1, scale * x2, ("nngp", "ntk"))
        erf_cases[repr(scale)] = {"nngp": np.asarray(k.nngp).tolist(), "ntk": np.asarray(k.ntk).tolist()}

    triples = []
    for k11, k22 in [(0.05, 0.3), (1.0, 1.0), (2.0, 0.5), (4.0, 6.0), (10.0, 10.0), (10.0, 3.0)]:
        for correlation in (-0.6, 0.0, 0.5, 0.99, 1.0):
            triples.append((k11, k22, correlation * np.sqrt(k11 * k22)))
    pairs = {}
    for name in ("tanh", "sigmoid", "silu", "gelu_tanh"):
        phi, derivative = FUNCTIONS[name]
        pairs[name] = [{"k11": k11, "k22": k22, "k12": k12,
                        "nngp": checked_pair_expectation(phi, k11, k22, k12),
                        "derivative": checked_pair_expectation(derivative, k11, k22, k12)}
                       for (k11, k22, k12) in triples]
    critical = {name: {repr(b): critical_weight_variance(name, b) for b in (0.1, 0.5, 1.0)} for name in ("tanh", "erf")}
    result = {"x1": x1.tolist(), "x2": x2.tolist(), "W_std": w_std, "b_std": b_std, "erf": erf_cases,
              "pairs": pairs, "critical": critical}
    with open(f"{out}/activation_kernels.json", "w") as f:
        json.dump(result, f, indent=1)
