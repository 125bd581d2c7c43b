"""Reference values from PyTorch (float64) for the networks FiniteWidth's `MLPDescription` builds:
plain MLPs with a LayerNorm, RMSNorm or BatchNorm1d after chosen hidden layers and a final norm,
and residual MLPs (pre-norm `x + f(norm(x))`, post-norm `norm(x + f(x))`, f = Linear, activation,
Linear) after a first Linear, as the torch modules a user would write for them.

Run with torch installed:
    python scripts/reference/generate_torch_mlps.py Tests/NeuralNetTests/Resources
writes torch_mlp_descriptions.json there: per network, the layer list (the torch module, see
generate_torch_layers.py's `build`), the mode, the state dict (parameters and buffers, with
non-trivial norm parameters and running statistics), its keys in torch's order, an input x and
the output in that mode. The Swift test builds each network from an `MLPDescription` of its own,
loads this state dict into it (names and shapes must match exactly) and compares the outputs.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_torch_layers import act, build, linear, norm, residual, tolist  # noqa: E402

torch.set_default_dtype(torch.float64)


def block(activation, *before):
    """f = Linear, activation, Linear on 6 units, optionally after a norm (pre-norm)."""
    return residual(*before, linear(6, 6), act(activation), linear(6, 6))


NETWORKS = {
    # Plain MLPs, 2 inputs, 2 hidden layers of 6, the norm after the first hidden Dense.
    "layerNormFirst": (0, [linear(2, 6), norm("LayerNorm", 6), act("ReLU"), linear(6, 6), act("ReLU"), linear(6, 1)], "eval"),
    "rmsNormFirstNoAffine": (1, [linear(2, 6), norm("RMSNorm", 6, affine=False), act("ReLU"), linear(6, 6), act("ReLU"),
                                 linear(6, 1)], "eval"),
    "batchNormFirstEval": (2, [linear(2, 6), norm("BatchNorm", 6), act("ReLU"), linear(6, 6), act("ReLU"), linear(6, 1)], "eval"),
    # A norm after every hidden Dense and a final one after the last activation.
    "batchNormEveryFinalTrain": (3, [linear(2, 6), norm("BatchNorm", 6), act("SiLU"), linear(6, 6), norm("BatchNorm", 6),
                                     act("SiLU"), norm("BatchNorm", 6), linear(6, 1)], "train"),
    # Residual MLPs with two blocks.
    "preNormEveryFinal": (4, [linear(2, 6), block("ReLU", norm("LayerNorm", 6)), block("ReLU", norm("LayerNorm", 6)),
                              norm("LayerNorm", 6), linear(6, 1)], "eval"),
    "postNormEveryFinalRMSNorm": (5, [linear(2, 6), block("ReLU"), norm("RMSNorm", 6), block("ReLU"), norm("RMSNorm", 6),
                                      norm("RMSNorm", 6), linear(6, 1)], "eval"),
    "preNormLastBatchNormTrain": (6, [linear(2, 6), block("GELU"), block("GELU", norm("BatchNorm", 6)), linear(6, 1)], "train"),
    "residualWithoutNorms": (7, [linear(2, 6), block("ReLU"), block("ReLU"), linear(6, 1)], "eval"),
}


def case(seed, layers, mode, rows=5):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = build(layers, g)
    model.train(mode == "train")
    x = torch.randn(rows, 2, generator=g) * 1.5 + 0.3
    state = model.state_dict()
    return {
        "architecture": str(model), "layers": layers, "mode": mode,
        "stateNames": list(state.keys()),
        "parameters": {k: tolist(v) for k, v in state.items()},
        "x": tolist(x), "output": tolist(model(x)),
    }


if __name__ == "__main__":
    out = sys.argv[1]
    document = {
        "tool": f"PyTorch {torch.__version__}, float64",
        "networks": {name: case(seed, layers, mode) for name, (seed, layers, mode) in NETWORKS.items()},
    }
    with open(f"{out}/torch_mlp_descriptions.json", "w") as fh:
        json.dump(document, fh, indent=1)
    print("written", sorted(document["networks"]), "to", out)
