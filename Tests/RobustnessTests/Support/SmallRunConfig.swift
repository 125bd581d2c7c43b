import Foundation

/// A small run that still exercises everything a resume must restore: Adam's moments and step
/// count, minibatches drawn by the generator (40 rows in batches of 16, so the last is short),
/// LayerNorm parameters, the loss curve; checkpoints every 10 of 300 epochs.
let smallRunConfig = """
    { "name": "small", "seed": 3,
      "data": { "kind": "synthetic", "target": "sin", "inputDim": 1, "trainSize": 40 },
      "model": { "hiddenLayers": 2, "width": 16, "layerNorm": "first" },
      "training": { "optimizer": "adam", "learningRate": 0.01, "epochs": 300, "batchSize": 16,
                    "checkpointEvery": 10, "logEvery": 5 },
      "evaluation": { "lambdas": { "from": 1, "to": 100, "perDecade": 2 },
                      "curve": { "from": -3, "to": 3, "points": 21 } } }
    """

/// The same run with a BatchNorm after every hidden layer and before the output layer: its
/// running statistics are buffers a resume must restore as well.
let smallBatchNormRunConfig = smallRunConfig.replacingOccurrences(
    of: #""layerNorm": "first""#, with: #""normalization": "batchNorm", "layerNorm": "every", "finalNorm": true"#)

/// The same run measuring its kernel every 20 epochs (the file a resume continues) with an
/// early stop whose state the checkpoints must keep (its window never runs out in 300 epochs).
let smallKernelRunConfig = smallRunConfig.replacingOccurrences(
    of: #""logEvery": 5 }"#, with: #""logEvery": 5, "earlyStop": { "window": 1000 } }"#).replacingOccurrences(
    of: #""perDecade": 2 },"#, with: #""perDecade": 2 }, "kernel": { "points": 8, "every": 20 },"#)
