"""Error of 2-D Gauss-Hermite and trapezoidal quadrature of E[tanh(u) tanh(v)] and
E[tanh'(u) tanh'(v)] against scipy's adaptive dblquad, K11 = K22 = q (docs/kernels.md's table).

    python scripts/reference/measure_quadrature_error.py      (numpy, scipy; prints a table)
"""
import numpy as np
from scipy import integrate

phi = np.tanh
dphi = lambda x: 1 / np.cosh(np.clip(x, -300, 300)) ** 2
RANGE = 8.5


def gauss_hermite(f, q, c, n):
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / np.sqrt(2 * np.pi)
    s = np.sqrt(max(0, 1 - c * c))
    return np.sum(w[:, None] * w[None, :] * f(np.sqrt(q) * z[:, None]) * f(np.sqrt(q) * (c * z[:, None] + s * z[None, :])))


def trapezoid(f, q, c, n):
    """FiniteWidth's GaussianQuadrature: equally spaced nodes on [-8.5, 8.5], pairs in the disc."""
    z = np.linspace(-RANGE, RANGE, n)
    w = (z[1] - z[0]) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    s = np.sqrt(max(0, 1 - c * c))
    weights = w[:, None] * w[None, :]
    weights[z[:, None] ** 2 + z[None, :] ** 2 > RANGE ** 2 * (1 + 1e-12)] = 0
    return np.sum(weights * f(np.sqrt(q) * z[:, None]) * f(np.sqrt(q) * (c * z[:, None] + s * z[None, :])))


def truth(f, q, c):
    s = np.sqrt(max(0, 1 - c * c))
    density = lambda z: np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    if s == 0:
        return integrate.quad(lambda z: f(np.sqrt(q) * z) ** 2 * density(z), -12, 12,
                              epsabs=1e-14, epsrel=1e-13, limit=500, points=[0])[0]
    g = lambda z2, z1: f(np.sqrt(q) * z1) * f(np.sqrt(q) * (c * z1 + s * z2)) * density(z1) * density(z2)
    return integrate.dblquad(g, -12, 12, -12, 12, epsabs=1e-13, epsrel=1e-12)[0]


if __name__ == "__main__":
    for q in [1, 3, 10, 20, 30, 50]:
        for c in [0.5, 0.99, 1.0]:
            t, td = truth(phi, q, c), truth(dphi, q, c)
            for rule in (gauss_hermite, trapezoid):
                cells = ["%d: %.1e / %.1e" % (n, abs(rule(phi, q, c, n) - t), abs(rule(dphi, q, c, n) - td))
                         for n in (64, 96, 128, 160, 200)]
                print(f"q {q} c {c} {rule.__name__}: " + ", ".join(cells), flush=True)
