"""Reference mean and variance of the infinitely wide network trained to convergence (t = inf) by
gradient descent on the squared error, from google/neural-tangents (float64), for FiniteWidth's tests.

Run with neural-tangents 0.6.5 and jax/jaxlib 0.4.23:
    python scripts/reference/generate_output_variance.py Tests/TangentKernelsTests/Resources
The networks are those of /work/shared/reference/generate_neural_tangents.py: NTK parameterization,
W_std = sqrt(2), b_std = 0.1, ReLU, LayerNorm (no affine) right after a hidden layer's Dense.
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import neural_tangents as nt
import numpy as np
from neural_tangents import stax

W_STD, B_STD = 2 ** 0.5, 0.1


def arch(hidden, layernorm_after):
    layers = []
    for i in range(hidden):
        layers.append(stax.Dense(512, W_std=W_STD, b_std=B_STD, parameterization="ntk"))
        if i in layernorm_after:
            layers.append(stax.LayerNorm())
        layers.append(stax.Relu())
    layers.append(stax.Dense(1, W_std=W_STD, b_std=B_STD, parameterization="ntk"))
    return stax.serial(*layers)


if __name__ == "__main__":
    out = sys.argv[1]
    rng = np.random.default_rng(3)
    x_train = rng.standard_normal((6, 3))
    y_train = rng.standard_normal((6, 1))
    directions = rng.standard_normal((4, 3))
    scales = [1.0, 10.0, 100.0, 1000.0]
    cases = {}
    for name, hidden, ln in [("noLayerNorm", 2, set()), ("layerNormFirst", 2, {0})]:
        _, _, kernel_fn = arch(hidden, ln)
        predict_fn = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, diag_reg=0.0)
        per_scale = {}
        for s in scales:
            mean, cov = predict_fn(t=None, x_test=s * directions, get="ntk", compute_cov=True)
            per_scale[repr(s)] = {"mean": np.asarray(mean)[:, 0].tolist(), "variance": np.diag(np.asarray(cov)).tolist()}
        # At the training points the trained network is exact: mean y, variance 0.
        mean, cov = predict_fn(t=None, x_test=x_train, get="ntk", compute_cov=True)
        cases[name] = {"hiddenLayers": hidden, "layerNormAfterHiddenLayers": sorted(ln), "byScale": per_scale,
                       "atTrainingPoints": {"mean": np.asarray(mean)[:, 0].tolist(), "variance": np.diag(np.asarray(cov)).tolist()}}
    doc = {"tool": "neural-tangents 0.6.5 predict.gradient_descent_mse_ensemble(diag_reg=0), t=None (infinity), "
                   "get='ntk', compute_cov=True; jax 0.4.23, float64",
           "parameterization": "ntk", "W_std": W_STD, "b_std": B_STD,
           "xTrain": x_train.tolist(), "yTrain": y_train[:, 0].tolist(), "directions": directions.tolist(),
           "architectures": cases}
    with open(f"{out}/neural_tangents_output_variance.json", "w") as fh:
        json.dump(doc, fh, indent=1)
    print("written", sorted(cases), "to", out)
