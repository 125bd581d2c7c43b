"""Reference values for the infinite-width network at finite training times: neural-tangents'
`predict.gradient_descent_mse` (continuous-time gradient descent on the MSE, in closed form) with
the analytic NTK of a ReLU MLP in the NTK parameterization, mean prediction (f_0 = 0).

neural-tangents' loss is (1 / (2 n)) ||f - y||^2 and FiniteWidth's (1 / n) ||f - y||^2, so
FiniteWidth's flow with learning rate η after t epochs is `predict_fn(t, ...)` with
`learning_rate = 2 η`; both are written down.

    python scripts/reference/generate_linearized_neural_tangents.py Tests/TangentKernelsTests/Resources

Needs neural-tangents 0.6.5 and jax 0.4.23 (a venv of its own, see README.md here). Float64.
"""

import json
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import numpy as np
from neural_tangents import predict, stax

W_STD, B_STD = 2 ** 0.5, 0.1
LEARNING_RATE = 0.3
EPOCHS = [0, 1, 10, 100, 1000]


def main(folder):
    rng = np.random.default_rng(3)
    x_train = rng.normal(size=(12, 2))
    y_train = np.sin(x_train.sum(axis=1, keepdims=True))
    # Test points on and far beyond the data, along rays through it.
    x_test = np.concatenate([x_train[:4] * scale for scale in (1.0, 10.0, 1000.0)] + [rng.normal(size=(3, 2))])
    _, _, kernel_fn = stax.serial(stax.Dense(512, W_std=W_STD, b_std=B_STD), stax.Relu(),
                                  stax.Dense(512, W_std=W_STD, b_std=B_STD), stax.Relu(),
                                  stax.Dense(1, W_std=W_STD, b_std=B_STD))
    k_train_train = kernel_fn(x_train, None, "ntk")
    k_test_train = kernel_fn(x_test, x_train, "ntk")
    predict_fn = predict.gradient_descent_mse(k_train_train, jnp.asarray(y_train), learning_rate=2 * LEARNING_RATE)
    zeros_train, zeros_test = jnp.zeros_like(y_train), jnp.zeros((len(x_test), 1))
    predictions = {}
    for epochs in EPOCHS:
        train, test = predict_fn(float(epochs), zeros_train, zeros_test, k_test_train)
        predictions[str(epochs)] = {"train": np.asarray(train).tolist(), "test": np.asarray(test).tolist()}
    reference = {
        "network": "Dense(512), Relu, Dense(512), Relu, Dense(1); NTK parameterization",
        "W_std": W_STD, "b_std": B_STD, "hiddenLayers": 2,
        "learningRate": LEARNING_RATE,
        "neuralTangentsLearningRate": 2 * LEARNING_RATE,
        "x_train": x_train.tolist(), "y_train": y_train.tolist(), "x_test": x_test.tolist(),
        "predictions": predictions,
        "versions": {"jax": jax.__version__},
    }
    with open(os.path.join(folder, "neural_tangents_linearized.json"), "w") as file:
        json.dump(reference, file, indent=1)
        file.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: generate_linearized_neural_tangents.py OUTPUT_FOLDER")
    main(sys.argv[1])
