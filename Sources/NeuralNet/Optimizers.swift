import CKernels

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
    /// The first half of `step()` split for threads: advances the step count. Then
    /// `update(parameter:elements:)` over disjoint pieces that cover every parameter, from any
    /// threads, does what the rest of `step()` does, element for element.
    func beginStep()
    /// Updates `elements` (flat indices) of parameter `index` from its gradient, as part of the
    /// step `beginStep()` began.
    func update(parameter index: Int, elements: Range<Int>)
    /// The optimizer's state (step count and moment buffers), for checkpoints, by parameter index.
    var state: OptimizerState<Scalar> { get set }
}

extension Optimizer {
    public func step() {
        beginStep()
        // An index loop: `enumerated()` in this unspecialised generic code would box every element.
        for index in parameters.indices { update(parameter: index, elements: 0..<parameters[index].value.count) }
    }

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
    /// Whether the step `beginStep()` began is the first (momentum starts from the gradient).
    var isFirstStep = true
    /// Per parameter, the buffers `update` reads and writes, made unique once per step by
    /// `beginStep()`: threads updating pieces of one parameter never touch its tensors.
    var stepBuffers: [StepBuffers] = []

    struct StepBuffers {
        var parameter: UnsafeMutablePointer<Scalar>, gradient: UnsafePointer<Scalar>, momentum: UnsafeMutablePointer<Scalar>?
    }

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

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func beginStep() {
        isFirstStep = steps == 0
        steps += 1
        stepBuffers.removeAll(keepingCapacity: true)
        for index in parameters.indices {
            stepBuffers.append(StepBuffers(parameter: parameters[index].value.unsafeMutableBaseAddress(),
                                           gradient: parameters[index].gradient.unsafeBaseAddress,
                                           momentum: momentum == 0 ? nil : momentumBuffers[index].unsafeMutableBaseAddress()))
        }
    }

    public func update(parameter index: Int, elements: Range<Int>) {
        let buffers = stepBuffers[index], start = elements.lowerBound
        sgdUpdate(parameter: buffers.parameter + start, gradient: buffers.gradient + start,
                  momentumBuffer: buffers.momentum.map { $0 + start },
                  count: elements.count, learningRate: Scalar(learningRate), momentum: Scalar(momentum),
                  dampening: Scalar(dampening), weightDecay: Scalar(weightDecay), nesterov: nesterov,
                  isFirstStep: isFirstStep)
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
    /// lr / (1 - beta1^t) and sqrt(1 - beta2^t) for the step `beginStep()` began.
    var stepSize = 0.0, biasCorrection2Sqrt = 1.0
    /// Per parameter, the buffers `update` reads and writes, made unique once per step by
    /// `beginStep()`: threads updating pieces of one parameter never touch its tensors.
    var stepBuffers: [StepBuffers] = []

    struct StepBuffers {
        var parameter: UnsafeMutablePointer<Scalar>, gradient: UnsafePointer<Scalar>
        var firstMoment: UnsafeMutablePointer<Scalar>, secondMoment: UnsafeMutablePointer<Scalar>
    }

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

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func beginStep() {
        steps += 1
        // PyTorch: step_size = lr / (1 - beta1^t); denom = sqrt(v) / sqrt(1 - beta2^t) + eps.
        stepSize = learningRate / (1 - Double.pow(beta1, Double(steps)))
        biasCorrection2Sqrt = (1 - Double.pow(beta2, Double(steps))).squareRoot()
        stepBuffers.removeAll(keepingCapacity: true)
        for index in parameters.indices {
            stepBuffers.append(StepBuffers(parameter: parameters[index].value.unsafeMutableBaseAddress(),
                                           gradient: parameters[index].gradient.unsafeBaseAddress,
                                           firstMoment: firstMoments[index].unsafeMutableBaseAddress(),
                                           secondMoment: secondMoments[index].unsafeMutableBaseAddress()))
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(parameter index: Int, elements: Range<Int>) {
        let buffers = stepBuffers[index], start = elements.lowerBound
        adamUpdate(parameter: buffers.parameter + start, gradient: buffers.gradient + start,
                   firstMoment: buffers.firstMoment + start, secondMoment: buffers.secondMoment + start, count: elements.count,
                   stepSize: Scalar(stepSize), biasCorrection2Sqrt: Scalar(biasCorrection2Sqrt),
                   beta1: Scalar(beta1), beta2: Scalar(beta2), epsilon: Scalar(epsilon),
                   weightDecay: decoupledWeightDecay ? 0 : Scalar(weightDecay),
                   decayFactor: decoupledWeightDecay ? Scalar(1 - learningRate * weightDecay) : 1)
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

/// One SGD update over `count` contiguous parameters (PyTorch's `_single_tensor_sgd`).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func sgdUpdate<Scalar: BLASScalar>(
    parameter p: UnsafeMutablePointer<Scalar>, gradient g: UnsafePointer<Scalar>,
    momentumBuffer buffer: UnsafeMutablePointer<Scalar>?, count: Int, learningRate: Scalar, momentum: Scalar,
    dampening: Scalar, weightDecay: Scalar, nesterov: Bool, isFirstStep: Bool
) {
    guard let buffer else {
        for i in 0..<count { p[i] -= learningRate * (g[i] + weightDecay * p[i]) }
        return
    }
    for i in 0..<count {
        let gradient = g[i] + weightDecay * p[i]
        buffer[i] = isFirstStep ? gradient : momentum * buffer[i] + (1 - dampening) * gradient
        p[i] -= learningRate * (nesterov ? gradient + momentum * buffer[i] : buffer[i])
    }
}

/// One Adam update over `count` contiguous parameters (PyTorch's `_single_tensor_adam`):
/// m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2; p -= stepSize m / (sqrt(v) / c2 + eps).
/// AdamW passes `decayFactor` = 1 - lr wd (applied to p first) and `weightDecay` = 0.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func adamUpdate<Scalar: BLASScalar>(
    parameter p: UnsafeMutablePointer<Scalar>, gradient g: UnsafePointer<Scalar>,
    firstMoment m: UnsafeMutablePointer<Scalar>, secondMoment v: UnsafeMutablePointer<Scalar>, count: Int,
    stepSize: Scalar, biasCorrection2Sqrt: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar,
    weightDecay: Scalar, decayFactor: Scalar
) {
    let (oneMinusBeta1, oneMinusBeta2) = (1 - beta1, 1 - beta2)
    // The square roots and divisions are this loop's cost: where the CPU has AVX, C does the
    // leading elements at twice the width Swift compiles for; then a Lanes at a time, then one
    // by one. Each does the same operations in the same order, so the same results.
    var i = adamUpdateWithAVX(
        parameter: p, gradient: g, firstMoment: m, secondMoment: v, count: count, stepSize: stepSize,
        biasCorrection2Sqrt: biasCorrection2Sqrt, beta1: beta1, beta2: beta2, epsilon: epsilon,
        weightDecay: weightDecay, decayFactor: decayFactor)
    let lanes = Scalar.Lanes.scalarCount
    while i &+ lanes <= count {
        let parameter = loadLanes(p + i) * decayFactor
        let gradient = loadLanes(g + i) + weightDecay * parameter
        var first = loadLanes(m + i)
        first += (gradient - first) * oneMinusBeta1
        let second = beta2 * loadLanes(v + i) + oneMinusBeta2 * gradient * gradient
        storeLanes(first, m + i)
        storeLanes(second, v + i)
        storeLanes(parameter - stepSize * first / (Scalar.squareRoots(second) / biasCorrection2Sqrt + epsilon), p + i)
        i &+= lanes
    }
    while i < count {
        p[i] *= decayFactor
        let gradient = g[i] + weightDecay * p[i]
        m[i] += (gradient - m[i]) * oneMinusBeta1
        v[i] = beta2 * v[i] + oneMinusBeta2 * gradient * gradient
        p[i] -= stepSize * m[i] / (Scalar.sqrt(v[i]) / biasCorrection2Sqrt + epsilon)
        i &+= 1
    }
}

/// `adamUpdate` through CKernels' AVX loop for Float and Double: how many leading elements it
/// updated (0 without AVX).
@inline(__always)
func adamUpdateWithAVX<Scalar: BLASScalar>(
    parameter p: UnsafeMutablePointer<Scalar>, gradient g: UnsafePointer<Scalar>,
    firstMoment m: UnsafeMutablePointer<Scalar>, secondMoment v: UnsafeMutablePointer<Scalar>, count: Int,
    stepSize: Scalar, biasCorrection2Sqrt: Scalar, beta1: Scalar, beta2: Scalar, epsilon: Scalar,
    weightDecay: Scalar, decayFactor: Scalar
) -> Int {
    if Scalar.self == Double.self {
        // The buffers hold Doubles; the scalar conversions are identities.
        return finitewidth_adam_update_avx_f64(
            UnsafeMutableRawPointer(p).assumingMemoryBound(to: Double.self),
            UnsafeRawPointer(g).assumingMemoryBound(to: Double.self),
            UnsafeMutableRawPointer(m).assumingMemoryBound(to: Double.self),
            UnsafeMutableRawPointer(v).assumingMemoryBound(to: Double.self), count,
            Double(stepSize), Double(biasCorrection2Sqrt), Double(beta1), Double(beta2), Double(epsilon),
            Double(weightDecay), Double(decayFactor))
    }
    if Scalar.self == Float.self {
        return finitewidth_adam_update_avx_f32(
            UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self),
            UnsafeRawPointer(g).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(m).assumingMemoryBound(to: Float.self),
            UnsafeMutableRawPointer(v).assumingMemoryBound(to: Float.self), count,
            Float(stepSize), Float(biasCorrection2Sqrt), Float(beta1), Float(beta2), Float(epsilon),
            Float(weightDecay), Float(decayFactor))
    }
    return 0
}
