// Checks, trains and measures a network built from FiniteWidth's layers and this package's own
// (UserLayers): the public gradient check, a few hundred Adam steps, the empirical NTK by the
// structured method against per-sample Jacobians, and the analytic kernel's answer for a layer
// without a kernel map. Exits with status 1 if a check fails.
import Glibc
import NeuralNet
import TangentKernels
import UserLayers

var generator = Xoshiro256StarStar(seed: 0)
let model = Sequential<Double>(
    Dense(2, 32, generator: &generator), ResidualBlock(width: 32, generator: &generator), SoftplusLayer(),
    Dense(32, 1, generator: &generator))
print("parameters:", model.namedParameters.map(\.name).joined(separator: ", "))
var failed = false

// 1. The hand-written backward passes against finite differences.
let check = GradientCheck().check(model, input: .randomNormal([4, 2], standardDeviation: 2, using: &generator))
print(check)
if !check.passes() { failed = true }

// 2. Training: y = sin(3 x1) x2 on [-1, 1]^2, full batch, Adam.
let x = Tensor<Double>.randomUniform([128, 2], low: -1, high: 1, using: &generator)
let y = Tensor<Double>(shape: [128, 1], scalars: (0..<128).map { sin(3 * x[$0, 0]) * x[$0, 1] })
let optimizer = Adam(parameters: model.parameters, learningRate: 1e-2)
let tape = Tape<Double>()
var losses: [Double] = []
for _ in 0..<300 {
    tape.reset()
    optimizer.zeroGradients()
    let loss = meanSquaredError(model(tape.input(x)), y)
    tape.backward(loss)
    optimizer.step()
    losses.append(loss.value.scalar)
}
print("loss: \(losses[0]) -> \(losses[losses.count - 1]) after \(losses.count) Adam steps")
if !(losses[losses.count - 1] < losses[0] / 10) { failed = true }

// 3. The empirical NTK: the structured method takes the network apart (softplus keeps rows
// apart and has no parameters); per-sample Jacobians are the slow oracle.
let points = Tensor<Double>.randomNormal([20, 2], using: &generator)
let structured = try model.empiricalTangentKernel(points, method: .structured)
let jacobians = try model.empiricalTangentKernel(points, method: .jacobians)
var largest = 0.0, difference = 0.0
for (a, b) in zip(structured.scalars, jacobians.scalars) {
    largest = max(largest, abs(b))
    difference = max(difference, abs(a - b))
}
print("empirical NTK of 20 points: structured and per-sample Jacobians differ by \(difference / largest) (relative to the largest entry)")
if !(difference <= 1e-12 * largest) { failed = true }

// 4. The analytic kernel of a network in the NTK parameterization names the layer without a map.
let ntkNetwork = Sequential<Double>(
    Dense(ntk: 2, 32, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator), SoftplusLayer(),
    Dense(ntk: 32, 1, weightStandardDeviation: 1.4, biasStandardDeviation: 0.1, generator: &generator))
do {
    _ = try ntkNetwork.infiniteWidthKernel(points)
    failed = true
} catch let error as InfiniteWidthKernelError {
    print("infinite-width kernel: \(error)")
    if error.layer != "SoftplusLayer" { failed = true }
}
if failed {
    print("FAILED")
    exit(1)
}
