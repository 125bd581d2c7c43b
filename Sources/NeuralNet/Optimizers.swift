/// Optimizers with PyTorch's exact update rules (`torch.optim.SGD`, `Adam`, `AdamW`).
/// Each holds its parameters and its state buffers, allocated once at creation: `step()` allocates
/// nothing. Gradients are read as they are; zero them between steps (`zeroGradients()`).
public protocol Optimizer<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar
    /// The parameters this optimizer updates.
    var parameters: [Parameter<Scalar>] { get }
    /// The learning rate (mutable, for schedules).
    var learningRate: Double { get set }
    /// Applies one update to every parameter from its current gradient.
    func step()
    /// The optimizer's state (step count and moment buffers), for checkpoints, by parameter index.
    var state: OptimizerState<Scalar> { get set }
}

extension Optimizer {
    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// What an optimizer carries between steps: the step count and named buffers per parameter
/// (`momentum`, `exp_avg`, `exp_avg_sq`), in the order of its parameters.
public struct OptimizerState<Scalar: BLASScalar>: Equatable {
    public var step: Int
    public var buffers: [[String: Tensor<Scalar>]]
    public init(step: Int, buffers: [[String: Tensor<Scalar>]]) {
        self.step = step
        self.buffers = buffers
    }
}

/// Stochastic gradient descent with optional momentum and weight decay (PyTorch's rule:
/// g += wd p; buf = momentum buf + (1 - dampening) g (buf = g on the first step); p -= lr buf).
public final class SGD<Scalar: BLASScalar>: Optimizer {
    public let parameters: [Parameter<Scalar>]
    public var learningRate: Double
    public let momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool
    var momentumBuffers: [Tensor<Scalar>]
    var steps = 0

    public init(parameters: [Parameter<Scalar>], learningRate: Double, momentum: Double = 0,
                dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        momentumBuffers = momentum == 0 ? [] : parameters.map { Tensor(shape: $0.shape, repeating: 0) }
    }

    public func step() {
        let (lr, mu, wd) = (Scalar(learningRate), Scalar(momentum), Scalar(weightDecay))
        let keep = Scalar(1 - dampening)
        for (index, parameter) in parameters.enumerated() {
            let p = parameter.value.unsafeMutableBaseAddress()
            let g = parameter.gradient.unsafeBaseAddress
            let count = parameter.value.count
            if momentum == 0 {
                for i in 0..<count { p[i] -= lr * (g[i] + wd * p[i]) }
                continue
            }
            let buffer = momentumBuffers[index].unsafeMutableBaseAddress()
            for i in 0..<count {
                let gradient = g[i] + wd * p[i]
                buffer[i] = steps == 0 ? gradient : mu * buffer[i] + keep * gradient
                p[i] -= lr * (nesterov ? gradient + mu * buffer[i] : buffer[i])
            }
        }
        steps += 1
    }

    public var state: OptimizerState<Scalar> {
        get { OptimizerState(step: steps, buffers: momentumBuffers.map { ["momentum_buffer": $0] }) }
        set {
            steps = newValue.step
            if momentum != 0 { momentumBuffers = newValue.buffers.map { $0["momentum_buffer"]! } }
        }
    }
}

/// Adam (Kingma and Ba) as PyTorch implements it; with `decoupledWeightDecay` it is AdamW
/// (Loshchilov and Hutter): p *= 1 - lr wd before the Adam update, in place of g += wd p.
public final class Adam<Scalar: BLASScalar>: Optimizer {
    public let parameters: [Parameter<Scalar>]
    public var learningRate: Double
    public let beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double
    public let decoupledWeightDecay: Bool
    var firstMoments: [Tensor<Scalar>]
    var secondMoments: [Tensor<Scalar>]
    var steps = 0

    public init(parameters: [Parameter<Scalar>], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                epsilon: Double = 1e-8, weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        (beta1, beta2) = betas
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoments = parameters.map { Tensor(shape: $0.shape, repeating: 0) }
        secondMoments = parameters.map { Tensor(shape: $0.shape, repeating: 0) }
    }

    /// AdamW with PyTorch's default weight decay of 0.01.
    public static func adamW(parameters: [Parameter<Scalar>], learningRate: Double = 1e-3,
                             betas: (Double, Double) = (0.9, 0.999), epsilon: Double = 1e-8,
                             weightDecay: Double = 0.01) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, betas: betas, epsilon: epsilon,
             weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step() {
        steps += 1
        // PyTorch: step_size = lr / (1 - beta1^t); denom = sqrt(v) / sqrt(1 - beta2^t) + eps.
        let biasCorrection1 = 1 - Double.pow(beta1, steps)
        let biasCorrection2Sqrt = (1 - Double.pow(beta2, steps)).squareRoot()
        let stepSize = Scalar(learningRate / biasCorrection1)
        let (b1, b2, eps) = (Scalar(beta1), Scalar(beta2), Scalar(epsilon))
        let (wd, decay) = (Scalar(weightDecay), Scalar(1 - learningRate * weightDecay))
        let correction = Scalar(biasCorrection2Sqrt)
        for (index, parameter) in parameters.enumerated() {
            let p = parameter.value.unsafeMutableBaseAddress()
            let g = parameter.gradient.unsafeBaseAddress
            let m = firstMoments[index].unsafeMutableBaseAddress()
            let v = secondMoments[index].unsafeMutableBaseAddress()
            for i in 0..<parameter.value.count {
                var gradient = g[i]
                if decoupledWeightDecay { p[i] *= decay } else if weightDecay != 0 { gradient += wd * p[i] }
                m[i] += (gradient - m[i]) * (1 - b1)  // PyTorch's lerp form
                v[i] = b2 * v[i] + (1 - b2) * gradient * gradient
                p[i] -= stepSize * m[i] / (Scalar.sqrt(v[i]) / correction + eps)
            }
        }
    }

    public var state: OptimizerState<Scalar> {
        get {
            OptimizerState(step: steps, buffers: zip(firstMoments, secondMoments).map { ["exp_avg": $0, "exp_avg_sq": $1] })
        }
        set {
            steps = newValue.step
            firstMoments = newValue.buffers.map { $0["exp_avg"]! }
            secondMoments = newValue.buffers.map { $0["exp_avg_sq"]! }
        }
    }
}

extension Double {
    static func pow(_ base: Double, _ exponent: Int) -> Double { Double.pow(base, Double(exponent)) }
}
