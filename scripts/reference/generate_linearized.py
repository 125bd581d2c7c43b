"""Reference values for `evaluation.linearized`: the network linearised at a checkpoint, trained by
full-batch gradient descent on the mean squared error, and its extrapolation table.

Independent of FiniteWidth's implementation: the empirical NTK from per-sample Jacobians by
torch.func (jacrev + vmap), and the linearised training by iterating the steps themselves,

    r_{s+1} = r_s - c Θ(X, X) r_s,   f_t(x) = f_0(x) - c Θ(x, X) Σ_{s<t} r_s,   c = 2 η / n,

rather than through an eigendecomposition. Float64 throughout.

Three steps (the checkpoint must be written by `train`, as a user's would be):

    python scripts/reference/generate_linearized.py data Tests/TrainCommandTests/Resources
    swift run train --config Tests/TrainCommandTests/Resources/linearized_init_config.json \
        --output /tmp/linearized-init --quiet
    cp /tmp/linearized-init/model.safetensors Tests/TrainCommandTests/Resources/linearized_init.safetensors
    python scripts/reference/generate_linearized.py reference Tests/TrainCommandTests/Resources

(run `train` from inside the Resources folder, or the config's relative data path will not be
found). The second step writes `linearized_reference.json`: the config the test runs (with
`--init-from linearized_init.safetensors`) and the linearised network's extrapolation table after
the config's epochs. Needs torch and numpy (`pip install torch numpy`).
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

torch.set_default_dtype(torch.float64)

POINTS, INPUT_DIM = 24, 2
CONFIG = {
    "name": "linearized-reference",
    "seed": 0,
    "precision": "float64",
    "data": {"kind": "csv", "path": "linearized_data.csv", "features": ["x1", "x2"], "target": "y", "standardize": False},
    "model": {"hiddenLayers": 2, "width": 48, "activation": "tanh", "layerNorm": "first", "layerNormAffine": True,
              "parameterization": "ntk", "weightStd": 1.5, "biasStd": 0.5},
    "training": {"optimizer": "sgd", "learningRate": 0.1, "epochs": 60, "batchSize": "full", "logEvery": 10},
    "evaluation": {"lambdas": {"from": 1, "to": 1000, "perDecade": 3}, "directions": "train", "curve": "none",
                   "linearized": True},
}


def write_data(folder):
    """24 points uniform in [-1, 1]^2 with y = sin(pi (x1 + x2) / sqrt 2), and the two configs."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(POINTS, INPUT_DIM))
    y = np.sin(math.pi * x.sum(axis=1) / math.sqrt(INPUT_DIM))
    with open(os.path.join(folder, "linearized_data.csv"), "w") as file:
        file.write("x1,x2,y\n")
        for row, target in zip(x, y):
            file.write(",".join(repr(float(v)) for v in (*row, target)) + "\n")
    init = json.loads(json.dumps(CONFIG))
    init["name"] = "linearized-init"
    init["training"]["epochs"] = 0
    init["evaluation"]["linearized"] = False
    with open(os.path.join(folder, "linearized_init_config.json"), "w") as file:
        json.dump(init, file, indent=2)
        file.write("\n")


def read_safetensors(path):
    """The tensors of a safetensors file (8-byte little-endian header length, JSON header, data)."""
    with open(path, "rb") as file:
        blob = file.read()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    data = blob[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F64": np.float64, "F32": np.float32}[entry["dtype"]]
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])
        tensors[name] = torch.tensor(array.astype(np.float64))
    return tensors


class NTKLinear(torch.nn.Module):
    """y = (sigma_w / sqrt(fan_in)) x W^T + sigma_b b: FiniteWidth's Dense in the NTK parameterization."""

    def __init__(self, fan_in, fan_out, weight_std, bias_std):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(fan_out, fan_in))
        self.bias = torch.nn.Parameter(torch.zeros(fan_out))
        self.weight_scale = weight_std / math.sqrt(fan_in)
        self.bias_scale = bias_std

    def forward(self, x):
        return self.weight_scale * x @ self.weight.T + self.bias_scale * self.bias


def build(model, input_dim):
    """The nn.Sequential FiniteWidth's MLPDescription stands for (plain MLP, LayerNorm after the listed layers)."""
    activation = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[model["activation"]]
    layers, fan_in = [], input_dim
    normed = {"first": {0}, "none": set()}[model["layerNorm"]]
    for index in range(model["hiddenLayers"]):
        layers.append(NTKLinear(fan_in, model["width"], model["weightStd"], model["biasStd"]))
        if index in normed:
            layers.append(torch.nn.LayerNorm(model["width"], eps=1e-5, elementwise_affine=model["layerNormAffine"]))
        layers.append(activation())
        fan_in = model["width"]
    layers.append(NTKLinear(fan_in, 1, model["weightStd"], model["biasStd"]))
    return torch.nn.Sequential(*layers)


def tangent_kernel(network, x1, x2):
    """Θ(x1, x2) = Σ_p J_p(x1) J_p(x2)^T from per-sample Jacobians."""
    parameters = {name: p.detach() for name, p in network.named_parameters()}

    def output(params, x):
        return functional_call(network, params, (x.unsqueeze(0),)).squeeze()

    jacobian = vmap(jacrev(output), in_dims=(None, 0))
    j1, j2 = jacobian(parameters, x1), jacobian(parameters, x2)
    return sum(j1[name].reshape(len(x1), -1) @ j2[name].reshape(len(x2), -1).T for name in parameters)


def lambda_grid(start, stop, per_decade):
    steps = math.floor((math.log10(stop) - math.log10(start)) * per_decade + 1e-9)
    values = [start * 10 ** (k / per_decade) for k in range(steps + 1)]
    values[-1] = stop
    return values


def reference(folder):
    data = np.loadtxt(os.path.join(folder, "linearized_data.csv"), delimiter=",", skiprows=1)
    x, y = torch.tensor(data[:, :INPUT_DIM]), torch.tensor(data[:, INPUT_DIM:])
    network = build(CONFIG["model"], INPUT_DIM)
    network.load_state_dict(read_safetensors(os.path.join(folder, "linearized_init.safetensors")), strict=True)
    training = CONFIG["training"]
    step = 2 * training["learningRate"] / y.numel()
    epochs = training["epochs"]

    with torch.no_grad():
        kernel = tangent_kernel(network, x, x)
        residual = network(x) - y
        summed = torch.zeros_like(residual)
        for _ in range(epochs):
            summed += residual
            residual = residual - step * kernel @ residual
        table = []
        for scale in lambda_grid(1, 1000, 3):
            probes = scale * x
            linearized = network(probes) - step * tangent_kernel(network, probes, x) @ summed
            table.append({"lambda": scale, "maxAbs": linearized.abs().max().item(), "meanAbs": linearized.abs().mean().item()})
    reference = {
        "config": CONFIG,
        "trainLoss": (residual ** 2).mean().item(),
        "extrapolation": table,
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }
    with open(os.path.join(folder, "linearized_reference.json"), "w") as file:
        json.dump(reference, file, indent=1)
        file.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("data", "reference"):
        sys.exit("usage: generate_linearized.py data|reference OUTPUT_FOLDER")
    (write_data if sys.argv[1] == "data" else reference)(sys.argv[2])
