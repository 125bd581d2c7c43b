"""Reference values from PyTorch / torch.func (float64) for the Jacobian penalty and the empirical
Jacobian NTK (issue 16).

Run with torch installed:
    python scripts/reference/generate_jacobian_penalty.py Tests/NeuralNetTests/Resources Tests/TangentKernelsTests/Resources
writes torch_jacobian_penalty.json ("penalty") into the first folder and torch_jacobian_kernel.json
("kernel") into the second:

- "penalty": per network (3 inputs, 2 hidden layers of 6, ReLU or GELU, without or with a LayerNorm
  after the first hidden Linear, torch's default init from a seed), a batch x (16 x 3), targets y,
  lambda, the state dict, and
    loss = MSE + lambda * (1/B) sum_i ||J(x_i)||_F^2, J(x_i) = df/dx by torch.func.vmap(jacrev(f)),
    its gradient with respect to every parameter (torch.autograd.grad through the Jacobian),
    the parameters after one SGD step (lr 0.05) and after three full-batch Adam steps (lr 0.01).
- "kernel": per network in the NTK parameterization (f = sigma_w / sqrt(fan_in) x W^T + sigma_b b,
  W, b ~ N(0, 1); tanh or GELU; 2 inputs, 2 hidden layers of 5), points x1 (3 x 2) and x2 (2 x 2)
  and the empirical JNTK: for g(x) = (f(x), df/dx_1, df/dx_2), Theta[(i, a), (k, b)] =
  <d g_a(x1_i) / d theta, d g_b(x2_k) / d theta>, point-major (rows (i, a)), from
  jacrev (parameters) of jacrev (inputs).
"""
import json
import os
import sys

import torch
from torch.func import functional_call, jacrev, vmap

torch.set_default_dtype(torch.float64)


def tolist(t):
    return t.detach().tolist()


def mlp(activation, layer_norm, inputs=3, width=6):
    acts = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU}
    layers = [torch.nn.Linear(inputs, width)]
    if layer_norm:
        layers.append(torch.nn.LayerNorm(width))
    layers += [acts[activation](), torch.nn.Linear(width, width), acts[activation](), torch.nn.Linear(width, 1)]
    return torch.nn.Sequential(*layers)


def penalized_loss(model, params, x, y, lam):
    f = lambda p, xi: functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)
    jac = vmap(jacrev(f, argnums=1), in_dims=(None, 0))(params, x)  # (B, outputs, inputs)
    out = functional_call(model, params, (x,))
    mse = ((out - y) ** 2).mean()
    return mse + lam * (jac ** 2).sum() / x.shape[0], mse


def penalty_case(seed, activation, layer_norm, lam=0.1, rows=16):
    torch.manual_seed(seed)
    model = mlp(activation, layer_norm)
    if layer_norm:
        with torch.no_grad():  # non-trivial gamma and beta
            model[1].weight.copy_(1 + 0.3 * torch.randn(6))
            model[1].bias.copy_(0.2 * torch.randn(6))
    x = torch.randn(rows, 3)
    y = torch.sin(x.sum(dim=1, keepdim=True))
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters()}
    loss, mse = penalized_loss(model, params, x, y, lam)
    grads = torch.autograd.grad(loss, [params[n] for n in names])

    def train(optimizer_factory, steps):
        p = {n: v.detach().clone().requires_grad_(True) for n, v in params.items()}
        opt = optimizer_factory([p[n] for n in names])
        for _ in range(steps):
            opt.zero_grad()
            penalized_loss(model, p, x, y, lam)[0].backward()
            opt.step()
        return {n: tolist(p[n]) for n in names}

    return {
        "activation": activation, "layerNorm": layer_norm, "lambda": lam,
        "x": tolist(x), "y": tolist(y), "names": names,
        "parameters": {n: tolist(params[n]) for n in names},
        "loss": loss.item(), "meanSquaredError": mse.item(),
        "gradients": {n: tolist(g) for n, g in zip(names, grads)},
        "afterSGD": train(lambda ps: torch.optim.SGD(ps, lr=0.05), 1),
        "afterAdam": train(lambda ps: torch.optim.Adam(ps, lr=0.01), 3),
    }


def ntk_forward(params, x, activation, sw, sb):
    act = {"tanh": torch.tanh, "gelu": torch.nn.functional.gelu}[activation]
    h = x
    for layer in range(3):
        w, b = params[f"{layer}.weight"], params[f"{layer}.bias"]
        h = sw / w.shape[1] ** 0.5 * h @ w.T + sb * b
        if layer < 2:
            h = act(h)
    return h


def kernel_case(seed, activation, sw=1.2, sb=0.3, width=5, inputs=2):
    g = torch.Generator().manual_seed(seed)
    shapes = {"0.weight": (width, inputs), "0.bias": (width,), "1.weight": (width, width), "1.bias": (width,),
              "2.weight": (1, width), "2.bias": (1,)}
    params = {n: torch.randn(*s, generator=g) for n, s in shapes.items()}
    x1, x2 = torch.randn(3, inputs, generator=g), torch.randn(2, inputs, generator=g)

    def joint(p, xi):  # (f, df/dx_1, ..., df/dx_d) at one point
        f = lambda z: ntk_forward(p, z.unsqueeze(0), activation, sw, sb).squeeze()
        return torch.cat([f(xi).reshape(1), jacrev(f)(xi)])

    def features(x):  # (N (1 + d), P): each joint output's parameter gradient, point-major
        per_point = vmap(jacrev(joint, argnums=0), in_dims=(None, 0))(params, x)
        return torch.cat([per_point[n].reshape(x.shape[0] * (1 + inputs), -1) for n in shapes], dim=1)

    kernel = features(x1) @ features(x2).T
    return {"activation": activation, "weightStandardDeviation": sw, "biasStandardDeviation": sb,
            "parameters": {n: tolist(v) for n, v in params.items()}, "x1": tolist(x1), "x2": tolist(x2),
            "kernel": tolist(kernel)}


def main():
    penalty_folder, kernel_folder = sys.argv[1], sys.argv[2]
    penalty = [penalty_case(seed, a, ln) for seed, (a, ln) in
               enumerate([("relu", False), ("relu", True), ("gelu", False), ("gelu", True)])]
    with open(os.path.join(penalty_folder, "torch_jacobian_penalty.json"), "w") as f:
        json.dump({"penalty": penalty}, f)
    with open(os.path.join(kernel_folder, "torch_jacobian_kernel.json"), "w") as f:
        json.dump({"kernel": [kernel_case(10, "tanh"), kernel_case(11, "gelu")]}, f)


if __name__ == "__main__":
    main()
