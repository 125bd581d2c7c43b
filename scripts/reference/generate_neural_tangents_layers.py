"""Reference infinite-width kernels of residual networks from google/neural-tangents (float64).

Run with neural-tangents 0.6.5 and jax/jaxlib 0.4.23 (a venv of its own:
`pip install neural-tangents jax==0.4.23 jaxlib==0.4.23 "numpy<2" "scipy<1.13"`):
    python scripts/reference/generate_neural_tangents_layers.py Tests/TangentKernelsTests/Resources
Writes neural_tangents_layers.json. Parameterization: NTK, W_std = sqrt(2), b_std = 0.1, as
stax.Dense(..., parameterization='ntk'); input kernel K0 = x1 . x2 / inputDim. A residual block
x + f(x) is stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), f), stax.FanInSum()).
LayerNorm has no affine parameters (neural-tangents' epsilon, 1e-12). neural-tangents' FanInSum
refuses a skip path that is not Gaussian (a residual block after a ReLU), so those are checked
against wide finite networks only.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np
from neural_tangents import stax

W_STD, B_STD = 2 ** 0.5, 0.1


def dense(width=512):
    return stax.Dense(width, W_std=W_STD, b_std=B_STD, parameterization="ntk")


def residual(*inner):
    return stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), stax.serial(*inner)), stax.FanInSum())


# Each architecture as neural-tangents layers and as the layer names the Swift test builds
# ("Dense", "ReLU", "LayerNorm", "Residual(...)" of the names inside).
ARCHITECTURES = {
    "residualAfterDense": [dense(), residual(dense(), stax.Relu(), dense()), stax.Relu(), dense(1)],
    "preLayerNorm": [dense(), residual(stax.LayerNorm(), dense(), stax.Relu(), dense()),
                     residual(stax.LayerNorm(), dense(), stax.Relu(), dense()), dense(1)],
    "preLayerNormFinalNorm": [dense(), residual(stax.LayerNorm(), dense(), stax.Relu(), dense()),
                              residual(stax.LayerNorm(), dense(), stax.Relu(), dense()), stax.LayerNorm(), dense(1)],
    "postLayerNorm": [dense(), residual(dense(), stax.Relu(), dense()), stax.LayerNorm(),
                      residual(dense(), stax.Relu(), dense()), stax.LayerNorm(), dense(1)],
}
DESCRIPTIONS = {
    "residualAfterDense": "Dense, Residual(Dense, ReLU, Dense), ReLU, Dense(1)",
    "preLayerNorm": "Dense, Residual(LayerNorm, Dense, ReLU, Dense) x 2, Dense(1)",
    "preLayerNormFinalNorm": "Dense, Residual(LayerNorm, Dense, ReLU, Dense) x 2, LayerNorm, Dense(1)",
    "postLayerNorm": "Dense, Residual(Dense, ReLU, Dense), LayerNorm, Residual(Dense, ReLU, Dense), LayerNorm, Dense(1)",
}

if __name__ == "__main__":
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((5, 3))
    x2 = rng.standard_normal((4, 3))
    cases = {}
    for name, layers in ARCHITECTURES.items():
        _, _, kernel_fn = stax.serial(*layers)
        scales = {}
        for s in (1.0, 10.0):
            k = kernel_fn(x1, s * x2, ("nngp", "ntk"))
            scales[repr(s)] = {"nngp": np.asarray(k.nngp).tolist(), "ntk": np.asarray(k.ntk).tolist()}
        cases[name] = {"layers": DESCRIPTIONS[name], "kernelsOfX1AndScaledX2": scales}
    doc = {"tool": "neural-tangents 0.6.5, jax 0.4.23, float64",
           "parameterization": "ntk", "W_std": W_STD, "b_std": B_STD,
           "inputKernel": "x1 . x2 / inputDim",
           "residual": "stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), inner), stax.FanInSum())",
           "x1": x1.tolist(), "x2": x2.tolist(), "architectures": cases}
    with open(f"{out}/neural_tangents_layers.json", "w") as fh:
        json.dump(doc, fh, indent=1)
    print("written", sorted(cases), "to", out)
