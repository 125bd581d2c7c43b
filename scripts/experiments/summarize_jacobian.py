"""The README table of configs/jacobian.json: per variant, over its seeds, the growth exponent (mean),
max |f| at lambda = 1 and 10^4 (geometric mean), the final training MSE (mean), the mean squared
Jacobian norm on the training inputs (mean), and the mean ||df/dx|| along the rays at lambda = 1
and 10^4 (mean).

    python3 scripts/experiments/summarize_jacobian.py runs/jacobian
"""
import json
import math
import os
import sys


def main(folder):
    runs = os.path.join(folder, "runs")
    variants = {}
    for name in sorted(os.listdir(runs)):
        path = os.path.join(runs, name, "metrics.json")
        if os.path.exists(path):
            metrics = json.load(open(path))
            variants.setdefault(metrics["variant"], []).append(metrics)
    print("| variant | seeds | growth exponent | max \\|f\\| at λ = 1 | at λ = 10⁴ | train MSE | mean ‖J‖² on the training set "
          "| ‖J‖ at λ = 1 | at λ = 10⁴ |")
    print("|---|---|---|---|---|---|---|---|---|")
    mean = lambda values: sum(values) / len(values)
    geometric = lambda values: math.exp(mean([math.log(v) for v in values]))
    order = lambda name: (not name.startswith("no-ln"), float(name.split("penalty-")[1]))
    for variant in sorted(variants, key=order):
        seeds = variants[variant]
        first = lambda m: m["extrapolation"]["points"][0]
        last = lambda m: m["extrapolation"]["points"][-1]
        print(f"| `{variant}` | {len(seeds)} | {mean([m['extrapolation']['growthExponent'] for m in seeds]):.3g} "
              f"| {geometric([first(m)['maxAbs'] for m in seeds]):.3g} | {geometric([last(m)['maxAbs'] for m in seeds]):.3g} "
              f"| {mean([m['finalTrainLoss'] for m in seeds]):.2g} | {mean([m['meanSquaredJacobianNorm'] for m in seeds]):.3g} "
              f"| {mean([first(m)['jacobianNorm'] for m in seeds]):.3g} | {mean([last(m)['jacobianNorm'] for m in seeds]):.3g} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/jacobian")
