"""Writes the configs behind docs/kernel-drift.md's tables: dispersion.json (200 initialisations,
no training) and drift.json (depth 20, width 64, full-batch GD). Usage:
    head -129 ../shared/data/digits.csv > /tmp/digits128.csv     # the first 128 digits
    python3 scripts/measurements/kernel-regime.py /tmp/digits128.csv 0.001 2000
    swift run -c release train --config dispersion.json && swift run -c release train --config drift.json
"""
import json, math, sys

path = sys.argv[1]
learning_rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.001
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
data = {"kind": "csv", "path": path, "features": [f"p{i}" for i in range(64)], "target": "label", "standardize": True}
lambdas = {"from": 1, "to": 10, "perDecade": 1}
standard = {"parameterization": "standard", "weightInit": "normal", "biasInit": "normal"}

variants = [{"name": f"{activation}-sw{sw2:g}-d{depth}-w{width}",
             "model": {"activation": activation, "weightStd": math.sqrt(sw2), "hiddenLayers": depth, "width": width}}
            for activation, sw2 in [("relu", 1.0), ("relu", 2.0), ("relu", 3.0), ("tanh", 1.0), ("tanh", 4.0)]
            for width in [64, 128] for depth in [5, 10, 20, 30, 40]]
json.dump({"name": "dispersion", "data": data, "model": dict(standard, biasStd=1),
           "training": {"epochs": 0},
           "evaluation": {"lambdas": lambdas, "kernel": {"points": 32, "initializations": 200}},
           "variants": variants}, open("dispersion.json", "w"), indent=1)

cells = [("relu", 1.0), ("relu", 2.0), ("relu", 2.5), ("tanh", 1.5), ("tanh", 2.8), ("tanh", 4.0)]
json.dump({"name": "drift", "data": data,
           "model": dict(standard, hiddenLayers=20, width=64, biasStd=math.sqrt(0.5)),
           "training": {"optimizer": "sgd", "learningRate": learning_rate, "epochs": epochs, "batchSize": "full",
                        "logEvery": 10, "earlyStop": {"window": 100, "minDecrease": 1e-7}},
           "evaluation": {"lambdas": lambdas, "kernel": {"points": 32, "every": 100}},
           "variants": [{"name": f"{a}-sw{s:g}", "model": {"activation": a, "weightStd": math.sqrt(s)}} for a, s in cells],
           "seeds": [0, 1, 2]}, open("drift.json", "w"), indent=1)
