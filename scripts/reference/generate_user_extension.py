"""Reference values from PyTorch (float64) for Tests/UserExtensionTests: a network a library user
builds from a residual block of public layers and a softplus op with its own backward.

Run with torch and numpy installed:
    python scripts/reference/generate_user_extension.py Tests/UserExtensionTests/Resources [SEED]
Every array is a nested list in row-major order; weights keep PyTorch's [out, in] layout.
"""
import json
import sys

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

torch.set_default_dtype(torch.float64)


def tolist(t):
    return t.detach().cpu().tolist()


class Residual(nn.Module):
    """x + inner(x), inner = Linear, Tanh, Linear: parameters inner.0.weight ... inner.2.bias."""

    def __init__(self, width):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))

    def forward(self, x):
        return x + self.inner(x)


def make_model(seed, inputs, width):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(inputs, width), Residual(width), nn.Softplus(), nn.Linear(width, 1))


def case(seed, inputs=3, width=8, n=6):
    model = make_model(seed, inputs, width)
    g = torch.Generator().manual_seed(seed + 1)
    # Inputs of scale 3 reach softplus's both tails (its stable form matters there).
    x = 3 * torch.randn(n, inputs, generator=g)
    y = torch.randn(n, 1, generator=g)
    x2 = 3 * torch.randn(4, inputs, generator=g)
    params0 = {k: v.clone() for k, v in model.state_dict().items()}

    out = model(x)
    loss = nn.functional.mse_loss(out, y)
    loss.backward()
    result = {
        "architecture": str(model),
        "inputs": inputs,
        "width": width,
        "parameters": {k: tolist(v) for k, v in params0.items()},
        "x": tolist(x),
        "y": tolist(y),
        "output": tolist(out),
        "loss": loss.item(),
        "gradients": {k: tolist(p.grad) for k, p in model.named_parameters()},
    }

    # three full-batch Adam steps, lr 0.01, PyTorch defaults otherwise
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        step_loss = nn.functional.mse_loss(model(x), y)
        losses.append(step_loss.item())
        step_loss.backward()
        opt.step()
    result["afterThreeAdamSteps"] = {"learningRate": 0.01, "losses": losses,
                                      "parameters": {k: tolist(v) for k, v in model.state_dict().items()}}

    # the empirical NTK at the initial parameters, over all parameters, by torch.func
    model.load_state_dict(params0)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze()

    def jac(xs):
        j = vmap(jacrev(f), (None, 0))(params, xs)
        return torch.cat([v.reshape(xs.shape[0], -1) for v in j.values()], dim=1)

    result["ntk"] = {"x1": tolist(x), "x2": tolist(x2), "kernel": tolist(jac(x) @ jac(x2).T),
                     "kernel11": tolist(jac(x) @ jac(x).T),
                     "definition": "sum over all parameters p of df(x1_i)/dp * df(x2_j)/dp (torch.func vmap of jacrev)"}
    result["generator"] = f"scripts/reference/generate_user_extension.py, seed {seed}, torch {torch.__version__}"
    return result


if __name__ == "__main__":
    outdir = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    with open(f"{outdir}/torch_user_extension.json", "w") as fh:
        json.dump(case(seed), fh, indent=1)
