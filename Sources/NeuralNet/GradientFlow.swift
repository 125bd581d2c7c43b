/// Gradient flow, d theta / dt = -grad L(theta), integrated with the Dormand-Prince 5(4) pair
/// exactly as scipy's `solve_ivp(method="RK45")` does: the same tableau, the same error norm
/// (the RMS over components of `h (K E) / (atol + max(|y|, |y_new|) rtol)`), the same step-size
/// control (safety 0.9, factors within [0.2, 10], no growth right after a rejection) and the same
/// first-step selection (Hairer, Norsett and Wanner's, as `select_initial_step`). Euler's method
/// with step eta on the same equation is gradient descent with learning rate eta, which is why
/// the two are compared (Elkabetz & Cohen 2021).
///
/// The state is a flat Double vector of every parameter end to end, whatever the model's Scalar,
/// so that the step control works at Double's resolution; parameters are written from it before
/// each gradient evaluation. All buffers are allocated at creation: a step allocates nothing.
public final class GradientFlow<Scalar: BLASScalar> {
    /// The parameters the flow moves, in the order of the state vector.
    public let parameters: [Parameter<Scalar>]
    /// `rtol`: the accepted local error per component is about `atol + rtol * |theta_i|`.
    public let relativeTolerance: Double
    /// `atol` (see `relativeTolerance`).
    public let absoluteTolerance: Double
    /// The flow's time t so far.
    public private(set) var time = 0.0
    /// The size scipy's control proposes for the next step; nil until the first step chose one.
    public private(set) var stepSize: Double?
    /// Gradients computed so far (a resumed flow keeps counting from its checkpoint's).
    public private(set) var gradientEvaluations = 0
    public private(set) var acceptedSteps = 0
    public private(set) var rejectedSteps = 0
    /// The loss at the current parameters.
    public private(set) var loss = Double.nan

    /// Computes the loss at the parameters' current values and leaves its gradient in every
    /// parameter's `gradient` (overwritten, or zeroed and added to).
    let lossAndGradient: () -> Double
    let count: Int
    /// y, f = -grad L(y), the stages K_0...K_6, the stage point and the proposal, each `count` long.
    let y, derivative, stagePoint, proposal: UnsafeMutablePointer<Double>
    let stages: [UnsafeMutablePointer<Double>]
    var hasDerivative = false

    /// - Parameters:
    ///   - relativeTolerance: rtol (scipy's default is 1e-3; the config's 1e-6).
    ///   - absoluteTolerance: atol; nil for rtol itself, a mixed test `rtol * (1 + |theta_i|)`:
    ///     weights of O(1/sqrt(width)) are then held to about rtol in absolute terms.
    ///   - lossAndGradient: the loss at the parameters' values, with its gradient left in their
    ///     `gradient`s (full batch: the flow is of one fixed function).
    public init(parameters: [Parameter<Scalar>], relativeTolerance: Double = 1e-6, absoluteTolerance: Double? = nil,
                lossAndGradient: @escaping () -> Double) {
        precondition(relativeTolerance > 0 && (absoluteTolerance ?? 1) > 0,
                     "GradientFlow: tolerances must be positive, got rtol \(relativeTolerance), atol \(String(describing: absoluteTolerance))")
        self.parameters = parameters
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance ?? relativeTolerance
        self.lossAndGradient = lossAndGradient
        let count = parameters.reduce(0) { $0 + $1.value.count }
        self.count = count
        func buffer() -> UnsafeMutablePointer<Double> {
            let pointer = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        (y, derivative, stagePoint, proposal) = (buffer(), buffer(), buffer(), buffer())
        stages = (0..<7).map { _ in buffer() }
        readParameters(into: y)
    }

    deinit {
        for pointer in [y, derivative, stagePoint, proposal] + stages { pointer.deallocate() }
    }

    /// What a checkpoint keeps to continue the flow exactly: t, the proposed step and the counts.
    public struct State: Sendable, Equatable {
        public var time: Double
        public var stepSize: Double?
        public var gradientEvaluations: Int, acceptedSteps: Int, rejectedSteps: Int
        public init(time: Double, stepSize: Double?, gradientEvaluations: Int, acceptedSteps: Int, rejectedSteps: Int) {
            (self.time, self.stepSize) = (time, stepSize)
            (self.gradientEvaluations, self.acceptedSteps, self.rejectedSteps) = (gradientEvaluations, acceptedSteps, rejectedSteps)
        }
    }

    /// The integrator's state. Setting it (after the parameters were loaded) re-reads the parameters;
    /// the derivative there is recomputed on the next step, not counted (the uninterrupted flow had it).
    public var state: State {
        get { State(time: time, stepSize: stepSize, gradientEvaluations: gradientEvaluations,
                    acceptedSteps: acceptedSteps, rejectedSteps: rejectedSteps) }
        set {
            (time, stepSize) = (newValue.time, newValue.stepSize)
            (gradientEvaluations, acceptedSteps, rejectedSteps) = (newValue.gradientEvaluations, newValue.acceptedSteps, newValue.rejectedSteps)
            readParameters(into: y)
            hasDerivative = false
        }
    }

    /// Advances by one accepted step, ending at `endTime` if the step would pass it; returns the
    /// loss at the new point. Does nothing (returns the current loss) once `time >= endTime`.
    /// - Throws: ``GradientFlowError`` when a loss is not a number, or the step size falls below
    ///   what t's precision resolves (scipy's "step size too small").
    @discardableResult
    public func step(until endTime: Double) throws -> Double {
        if !hasDerivative {
            let counted = gradientEvaluations
            loss = try evaluate(at: y, into: derivative)
            // Only the first evaluation of a run counts: after a resume it repeats one already counted.
            if stepSize != nil { gradientEvaluations = counted }
            hasDerivative = true
        }
        guard time < endTime else { return loss }
        var proposed = try stepSize ?? initialStepSize(endTime: endTime)
        let smallest = 10 * (time.nextUp - time)
        proposed = max(proposed, smallest)
        var rejected = false
        while true {
            if proposed < smallest {
                throw GradientFlowError(time: time, problem: "the step size fell to \(proposed), below what t's precision resolves "
                    + "(scipy's \"step size too small\"); the loss was \(loss). Loosen training.tolerance or check for a non-smooth loss")
            }
            let newTime = min(time + proposed, endTime)
            let h = newTime - time
            let newLoss = try rungeKuttaStep(h: h)
            let norm = errorNorm(h: h)
            if norm < 1 {
                var factor = norm == 0 ? DormandPrince.maximumFactor : min(DormandPrince.maximumFactor, DormandPrince.safety * Double.pow(norm, DormandPrince.errorExponent))
                if rejected { factor = min(1, factor) }
                stepSize = h * factor
                time = newTime
                // The proposal becomes the state; K_6 = f(t + h, y_new) is the next step's K_0 (FSAL).
                y.update(from: proposal, count: count)
                derivative.update(from: stages[6], count: count)
                loss = newLoss
                acceptedSteps += 1
                writeParameters(from: y)
                return loss
            }
            proposed = h * max(DormandPrince.minimumFactor, DormandPrince.safety * Double.pow(norm, DormandPrince.errorExponent))
            rejected = true
            rejectedSteps += 1
        }
    }

    /// Integrates up to `endTime`, calling `onStep(time, loss)` after every accepted step.
    public func run(until endTime: Double, onStep: (Double, Double) throws -> Void = { _, _ in }) throws {
        while time < endTime {
            let value = try step(until: endTime)
            try onStep(time, value)
        }
    }

    /// scipy's `rk_step`: the stages, the fifth-order proposal, and K_6 = f(proposal); the loss there.
    func rungeKuttaStep(h: Double) throws -> Double {
        stages[0].update(from: derivative, count: count)
        let matrix = DormandPrince.matrix
        for s in 1..<6 {
            stagePoint.update(from: y, count: count)
            for (j, a) in matrix[s].enumerated() where a != 0 { addScaled(stages[j], h * a, to: stagePoint) }
            _ = try evaluate(at: stagePoint, into: stages[s])
        }
        proposal.update(from: y, count: count)
        for (j, b) in DormandPrince.weights.enumerated() where b != 0 { addScaled(stages[j], h * b, to: proposal) }
        return try evaluate(at: proposal, into: stages[6])
    }

    /// RMS over i of `h (K E)_i / (atol + max(|y_i|, |proposal_i|) rtol)`.
    func errorNorm(h: Double) -> Double {
        let e = DormandPrince.errorWeights
        var sum = 0.0
        for i in 0..<count {
            var error = 0.0
            for j in 0..<7 where e[j] != 0 { error += stages[j][i] * e[j] }
            let scale = absoluteTolerance + max(abs(y[i]), abs(proposal[i])) * relativeTolerance
            let scaled = h * error / scale
            sum += scaled * scaled
        }
        return (sum / Double(max(count, 1))).squareRoot()
    }

    /// scipy's `select_initial_step` for an order-4 error estimator.
    func initialStepSize(endTime: Double) throws -> Double {
        let interval = endTime - time
        guard count > 0 else { return interval }
        func norm(_ value: (Int) -> Double) -> Double {
            var sum = 0.0
            for i in 0..<count {
                let v = value(i) / (absoluteTolerance + abs(y[i]) * relativeTolerance)
                sum += v * v
            }
            return (sum / Double(count)).squareRoot()
        }
        let d0 = norm { self.y[$0] }, d1 = norm { self.derivative[$0] }
        let h0 = min(d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1, interval)
        stagePoint.update(from: y, count: count)
        addScaled(derivative, h0, to: stagePoint)
        _ = try evaluate(at: stagePoint, into: proposal)
        let d2 = norm { self.proposal[$0] - self.derivative[$0] } / h0
        let h1 = d1 <= 1e-15 && d2 <= 1e-15 ? max(1e-6, h0 * 1e-3) : Double.pow(0.01 / max(d1, d2), 1.0 / 5)
        return min(100 * h0, h1, interval)
    }

    /// `out = -grad L(point)`; returns L(point).
    func evaluate(at point: UnsafeMutablePointer<Double>, into out: UnsafeMutablePointer<Double>) throws -> Double {
        writeParameters(from: point)
        let value = lossAndGradient()
        gradientEvaluations += 1
        guard value.isFinite else {
            throw GradientFlowError(time: time, problem: "the loss is \(value) at a stage of the step from t = \(time)")
        }
        var offset = 0
        for parameter in parameters {
            let gradient = parameter.gradient.unsafeBaseAddress
            for i in 0..<parameter.value.count { out[offset &+ i] = -Double(gradient[i]) }
            offset &+= parameter.value.count
        }
        return value
    }

    func addScaled(_ x: UnsafeMutablePointer<Double>, _ alpha: Double, to target: UnsafeMutablePointer<Double>) {
        for i in 0..<count { target[i] += alpha * x[i] }
    }

    func readParameters(into buffer: UnsafeMutablePointer<Double>) {
        var offset = 0
        for parameter in parameters {
            let values = parameter.value.unsafeBaseAddress
            for i in 0..<parameter.value.count { buffer[offset &+ i] = Double(values[i]) }
            offset &+= parameter.value.count
        }
    }

    func writeParameters(from buffer: UnsafeMutablePointer<Double>) {
        var offset = 0
        for parameter in parameters {
            let values = parameter.value.unsafeMutableBaseAddress()
            for i in 0..<parameter.value.count { values[i] = Scalar(buffer[offset &+ i]) }
            offset &+= parameter.value.count
        }
    }
}

/// scipy's `RK45` tableau (Dormand and Prince 1980; its nodes c do not enter, the flow not depending on t): the matrix A (row s: the weights
/// of K_0...K_{s-1}), the weights b of the fifth-order solution, and E = b_hat - b (the embedded
/// fourth-order solution's difference, with K_6 = f(y_new)); and scipy's step-control constants.
enum DormandPrince {
    static let matrix: [[Double]] = [
        [], [1.0 / 5], [3.0 / 40, 9.0 / 40], [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
    ]
    static let weights: [Double] = [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84]
    static let errorWeights: [Double] = [-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200, -22.0 / 525, 1.0 / 40]
    /// The step shrinks or grows by safety * error^(-1/5), within [0.2, 10].
    static let safety = 0.9
    static let minimumFactor = 0.2
    static let maximumFactor = 10.0
    static let errorExponent = -1.0 / 5
}

/// Gradient flow could not continue.
public struct GradientFlowError: Error, CustomStringConvertible {
    /// The flow's time when it stopped.
    public let time: Double
    public let problem: String
    public var description: String { "gradient flow stopped at t = \(time): \(problem)" }
}
