"""Reference values from PyTorch (float64) for FiniteWidth's cross-entropy loss and the paper's
classifier (Elkabetz & Cohen 2021: Linear layers without biases, ReLU, cross-entropy).

    python scripts/reference/generate_torch_cross_entropy.py Tests/NeuralNetTests/Resources [SEED]

writes torch_cross_entropy.json: for each case the logits [B, C], the integer classes [B],
`F.cross_entropy(logits, classes)` (mean over rows) and its gradient with respect to the logits;
cases include logits offset by 1e3 and spread over 1e2 (log-sum-exp must not overflow). Then an
`nn.Sequential(Linear(6, 5, bias=False), ReLU(), Linear(5, 5, bias=False), ReLU(), Linear(5, 3, bias=False))`
with Xavier-uniform weights, its state dict (`0.weight`, `2.weight`, `4.weight`: no `.bias`), a batch,
the loss, its gradients, and the parameters after one SGD step (lr 0.1).
"""
import json
import sys

import torch
import torch.nn.functional as F
from torch import nn

torch.set_default_dtype(torch.float64)


def tolist(t):
    return t.detach().cpu().tolist()


def case(name, logits, classes):
    logits = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(logits, classes)
    loss.backward()
    return {"name": name, "logits": tolist(logits), "classes": [float(c) for c in tolist(classes)],
            "loss": loss.item(), "gradient": tolist(logits.grad)}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    torch.manual_seed(seed)
    cases = [
        case("small", torch.randn(5, 4), torch.randint(0, 4, (5,))),
        case("one row, two classes", torch.randn(1, 2), torch.tensor([1])),
        case("offset 1e3", torch.randn(6, 3) + 1000.0, torch.randint(0, 3, (6,))),
        case("spread 1e2", torch.randn(4, 10) * 100.0, torch.randint(0, 10, (4,))),
        case("one class", torch.randn(3, 1), torch.zeros(3, dtype=torch.long)),
    ]
    network = nn.Sequential(nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 5, bias=False), nn.ReLU(),
                            nn.Linear(5, 3, bias=False))
    for module in network:
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
    x = torch.randn(7, 6)
    y = torch.randint(0, 3, (7,))
    parameters = {k: tolist(v) for k, v in network.state_dict().items()}
    loss = F.cross_entropy(network(x), y)
    loss.backward()
    gradients = {k: tolist(p.grad) for k, p in network.named_parameters()}
    with torch.no_grad():
        for p in network.parameters():
            p -= 0.1 * p.grad
    after = {k: tolist(v) for k, v in network.state_dict().items()}
    fixture = {
        "torch": torch.__version__, "seed": seed, "cases": cases,
        "network": {"dims": [6, 5, 5, 3], "parameters": parameters, "x": tolist(x),
                    "classes": [float(c) for c in tolist(y)], "loss": loss.item(), "gradients": gradients,
                    "learningRate": 0.1, "afterOneSGDStep": after},
    }
    with open(f"{out}/torch_cross_entropy.json", "w") as f:
        json.dump(fixture, f)


if __name__ == "__main__":
    main()
