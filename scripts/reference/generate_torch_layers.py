"""Reference values from PyTorch (float64) for FiniteWidth's RMSNorm, BatchNorm, Residual and SiLU.

Run with torch, numpy and safetensors installed:
    python scripts/reference/generate_torch_layers.py Tests/NeuralNetTests/Resources [SEED]
writes torch_layers.json there. And
    python scripts/reference/generate_torch_layers.py --check-checkpoint FILE NETWORK
loads a safetensors checkpoint FiniteWidth wrote for the fixture network NETWORK into the same torch
module with `load_state_dict(strict=True)` and compares its outputs, in both modes, with the ones
the file's parameters give in FiniteWidth (stored in the file's metadata by the test that wrote it).
The other way round,
    python scripts/reference/generate_torch_layers.py --write-checkpoint DIR NETWORK...
writes torch_<NETWORK>.safetensors to DIR with `safetensors.torch.save_file(model.state_dict())`, as a
PyTorch user saves one (BatchNorm's num_batches_tracked as int64, I64 in the file), and in its
metadata an input batch and the module's outputs on it in eval mode, then in train mode.

Every array is a nested list in row-major order; weights keep PyTorch's [out, in] layout; state
dicts hold parameters and buffers under PyTorch's names. Each network is also described as a list
of layers (`layers`) from which the Swift tests build the same network.
"""
import json
import sys

import torch
from torch import nn

torch.set_default_dtype(torch.float64)

ADAM = {"learningRate": 0.01, "betas": [0.9, 0.999], "eps": 1e-8}


def tolist(t):
    return t.detach().cpu().tolist()


class Residual(nn.Module):
    """x + inner(x), the inner block held as `inner` (so its names are `inner.<...>`)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return x + self.inner(x)


def build(layers, g):
    """The torch module a layer description gives, with non-trivial affine parameters and
    running statistics drawn from `g`, so that their effect and their gradients are tested."""
    modules = []
    for spec in layers:
        kind = spec["type"]
        if kind == "Linear":
            modules.append(nn.Linear(spec["in"], spec["out"], bias=spec.get("bias", True)))
        elif kind == "LayerNorm":
            modules.append(nn.LayerNorm(spec["width"], eps=spec["eps"], elementwise_affine=spec["affine"]))
        elif kind == "RMSNorm":
            modules.append(nn.RMSNorm(spec["width"], eps=spec["eps"], elementwise_affine=spec["affine"]))
        elif kind == "BatchNorm":
            modules.append(nn.BatchNorm1d(spec["width"], eps=spec["eps"], momentum=spec["momentum"], affine=spec["affine"]))
        elif kind == "Residual":
            modules.append(Residual(build(spec["inner"], g)))
        else:
            modules.append({"ReLU": nn.ReLU, "SiLU": nn.SiLU, "Tanh": nn.Tanh, "GELU": nn.GELU}[kind]())
        module = modules[-1]
        with torch.no_grad():
            if kind in ("LayerNorm", "RMSNorm", "BatchNorm") and spec["affine"]:
                module.weight.copy_(torch.rand(module.weight.shape, generator=g) + 0.5)
                if getattr(module, "bias", None) is not None:
                    module.bias.copy_(torch.rand(module.bias.shape, generator=g) * 0.6 - 0.3)
            if kind == "BatchNorm":
                module.running_mean.copy_(torch.randn(spec["width"], generator=g) * 0.5)
                module.running_var.copy_(torch.rand(spec["width"], generator=g) * 1.5 + 0.5)
                module.num_batches_tracked.fill_(7)
    return nn.Sequential(*modules)


def state(model):
    return {k: tolist(v) for k, v in model.state_dict().items()}


def buffers(model):
    return {k: tolist(v) for k, v in model.named_buffers()}


def network_case(seed, layers, mode, rows=6):
    """Forward, MSE loss and backward once, then three full-batch Adam steps from the same start,
    all in `mode` ("train": batch statistics, running statistics updated; "eval": running ones)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = build(layers, g)
    model.train(mode == "train")
    inputs, outputs = layers[0]["in"], layers[-1]["out"]
    x = torch.randn(rows, inputs, generator=g) * 1.5 + 0.3
    y = torch.randn(rows, outputs, generator=g)
    start = {k: v.clone() for k, v in model.state_dict().items()}

    xin = x.clone().requires_grad_(True)
    out = model(xin)
    loss = nn.functional.mse_loss(out, y)
    loss.backward()
    case = {
        "architecture": str(model), "layers": layers, "mode": mode,
        "parameters": {k: tolist(v) for k, v in start.items()},
        "x": tolist(x), "y": tolist(y), "output": tolist(out), "loss": loss.item(),
        "lossDefinition": "mean over all elements of (output - y)^2",
        "gradients": {k: tolist(p.grad) for k, p in model.named_parameters()},
        "inputGradient": tolist(xin.grad),
        "buffersAfterForward": buffers(model),
    }

    model.load_state_dict(start)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["learningRate"])
    for _ in range(3):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    case["afterThreeAdamSteps"] = dict(ADAM, state=state(model))
    return case


def rmsnorm_case(seed, affine, eps):
    g = torch.Generator().manual_seed(seed)
    layer = nn.RMSNorm(7, eps=eps, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            layer.weight.copy_(torch.rand(7, generator=g) + 0.5)
    x = (torch.randn(4, 7, generator=g) * 3 + 1).requires_grad_(True)
    dy = torch.randn(4, 7, generator=g)
    out = layer(x)
    out.backward(dy)
    case = {"eps": eps, "affine": affine, "x": tolist(x), "dy": tolist(dy), "y": tolist(out), "dx": tolist(x.grad)}
    if affine:
        case.update({"weight": tolist(layer.weight), "dweight": tolist(layer.weight.grad)})
    return case


def silu_case(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(12, generator=g) * 3, torch.tensor([0.0, -40.0, 40.0, -800.0])]).requires_grad_(True)
    y = nn.functional.silu(x)
    y.sum().backward()
    return {"x": tolist(x), "y": tolist(y), "dydx": tolist(x.grad)}


def linear(i, o, bias=True):
    spec = {"type": "Linear", "in": i, "out": o}
    if not bias:
        spec["bias"] = False
    return spec


def norm(kind, width, eps=1e-5, affine=True, momentum=0.1):
    spec = {"type": kind, "width": width, "eps": eps, "affine": affine}
    if kind == "BatchNorm":
        spec["momentum"] = momentum
    return spec


def act(kind):
    return {"type": kind}


def residual(*inner):
    return {"type": "Residual", "inner": list(inner)}


NETWORKS = {
    # RMSNorm with and without gamma, two epsilons, and SiLU.
    "rmsNorm": (0, [linear(3, 6), norm("RMSNorm", 6), act("SiLU"), linear(6, 5),
                    norm("RMSNorm", 5, eps=1e-6, affine=False), act("Tanh"), linear(5, 1)], "train"),
    # BatchNorm with and without gamma and beta, momentum 0.1 and None (cumulative average). In
    # training mode the Linears before them have no bias, as usual: the batch mean would remove it,
    # so its gradient is zero up to rounding, which Adam (g / (sqrt(v) + eps)) would amplify into
    # steps that differ between any two implementations.
    "batchNormTrain": (10, [linear(3, 6, bias=False), norm("BatchNorm", 6), act("ReLU"), linear(6, 4, bias=False),
                            norm("BatchNorm", 4, eps=1e-3, affine=False, momentum=None), act("GELU"), linear(4, 2)], "train"),
    "batchNormEval": (10, [linear(3, 6), norm("BatchNorm", 6), act("ReLU"), linear(6, 4),
                           norm("BatchNorm", 4, eps=1e-3, affine=False, momentum=None), act("GELU"), linear(4, 2)], "eval"),
    # Transformer-style residual MLPs: pre-LN with a final LayerNorm, and post-LN.
    "preLayerNorm": (20, [linear(3, 8), residual(norm("LayerNorm", 8), linear(8, 8), act("ReLU"), linear(8, 8)),
                          residual(norm("LayerNorm", 8), linear(8, 8), act("ReLU"), linear(8, 8)),
                          norm("LayerNorm", 8), linear(8, 1)], "train"),
    "postLayerNorm": (30, [linear(3, 8), residual(linear(8, 8), act("ReLU"), linear(8, 8)), norm("LayerNorm", 8),
                           residual(linear(8, 8), act("ReLU"), linear(8, 8)), norm("LayerNorm", 8), linear(8, 1)], "train"),
    # A BatchNorm inside a residual block (buffers named `1.inner.0.running_mean`), RMSNorm after.
    "residualBatchNorm": (40, [linear(3, 8), residual(norm("BatchNorm", 8), linear(8, 8), act("SiLU"), linear(8, 8)),
                               norm("RMSNorm", 8), linear(8, 1)], "train"),
}


def check_checkpoint(path, network):
    """Loads FiniteWidth's checkpoint of `network` into the torch module and compares outputs."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    _, layers, _ = NETWORKS[network]
    model = build(layers, torch.Generator().manual_seed(0))
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    result = model.load_state_dict(tensors, strict=True)
    print("load_state_dict(strict=True):", result)
    for name, value in model.state_dict().items():
        shown = f" = {value.item()}" if value.dim() == 0 else ""
        print(f"  {name}: {value.dtype} {tuple(value.shape)}{shown} (file: {tensors[name].dtype})")
    x = torch.tensor(json.loads(metadata["x"]))
    worst = 0.0
    for mode in ("eval", "train"):
        model.train(mode == "train")
        expected = torch.tensor(json.loads(metadata[f"{mode}Output"]))
        error = ((model(x) - expected).abs().max() / expected.abs().max()).item()
        print(f"  {mode} mode: max relative difference from FiniteWidth's output {error:.2e}")
        worst = max(worst, error)
    assert worst < 1e-12, worst
    print("ok")


def write_checkpoint(folder, network):
    """Saves the fixture network's torch module as PyTorch users do, with its outputs in the metadata."""
    from safetensors.torch import save_file

    seed, layers, _ = NETWORKS[network]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = build(layers, g)
    x = torch.randn(5, layers[0]["in"], generator=g) * 1.5 + 0.3
    # The file first: a train-mode forward moves the running statistics.
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.eval()
        eval_output = model(x)
        model.train()
        train_output = model(x)
    metadata = {"x": json.dumps(tolist(x)), "evalOutput": json.dumps(tolist(eval_output)),
                "trainOutput": json.dumps(tolist(train_output)), "tool": f"PyTorch {torch.__version__}, float64"}
    path = f"{folder}/torch_{network}.safetensors"
    save_file(tensors, path, metadata=metadata)
    print("written", path, {k: str(v.dtype) for k, v in tensors.items() if v.dtype != torch.float64})


if __name__ == "__main__":
    if sys.argv[1] == "--check-checkpoint":
        check_checkpoint(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if sys.argv[1] == "--write-checkpoint":
        for name in sys.argv[3:]:
            write_checkpoint(sys.argv[2], name)
        sys.exit(0)
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    document = {
        "tool": f"PyTorch {torch.__version__}, float64",
        "networks": {name: network_case(seed + s, layers, mode) for name, (s, layers, mode) in NETWORKS.items()},
        "rmsNorm": {"affine": rmsnorm_case(seed + 50, True, 1e-5), "noAffine": rmsnorm_case(seed + 51, False, 1e-6)},
        "silu": silu_case(seed + 60),
    }
    with open(f"{out}/torch_layers.json", "w") as fh:
        json.dump(document, fh, indent=1)
    print("written", sorted(document["networks"]), "rmsNorm, silu to", out)
