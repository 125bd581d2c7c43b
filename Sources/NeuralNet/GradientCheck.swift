/// Checks hand-written backward passes against central finite differences in Float64, as
/// PyTorch's `torch.autograd.gradcheck`: for a layer or any function of variables built from
/// ops (built-in or `CustomOperation`s), every element of every input's and parameter's
/// gradient.
///
/// The function's output is reduced to the scalar `L = sum(projection .* f(inputs))` with a fixed
/// random projection, so that every output element gets its own upstream gradient; the analytic
/// gradients come from one backward pass with the projection as seed, the numeric ones from
/// `sum(projection .* (f(p + h) - f(p - h))) / 2h` for each element p (the outputs are subtracted
/// element by element before they are projected, so outputs that p does not reach cancel
/// exactly and add no rounding noise). An element's relative error is
/// `|analytic - numeric| / max(|analytic|, |numeric|, floor)`: the floor keeps gradients that are
/// (nearly) zero from dividing rounding noise by themselves.
///
/// ```swift
/// let result = GradientCheck().check(myLayer, input: x)      // a Layer<Double>
/// #expect(result.worstRelativeError < 1e-6, "\(result)")
/// ```
public struct GradientCheck {
    /// The finite-difference step h.
    public var step: Double
    /// Below this magnitude, errors are measured absolutely (see the type's documentation).
    public var floor: Double
    /// Seeds the random projection of the output.
    public var seed: UInt64

    public init(step: Double = 1e-6, floor: Double = 1e-3, seed: UInt64 = 1) {
        precondition(step > 0 && floor > 0, "GradientCheck: step and floor must be positive, got \(step) and \(floor)")
        self.step = step
        self.floor = floor
        self.seed = seed
    }

    /// Checks the gradients of `layer` on `input` (one sample a row) with respect to the input and
    /// every parameter in `layer.namedParameters`, named as there.
    public func check<L: Layer>(_ layer: L, input: Tensor<Double>) -> GradientCheckResult where L.Scalar == Double {
        check(inputs: [input], parameters: layer.namedParameters) { layer($0[0]) }
    }

    /// Checks the gradients of `function` with respect to each of `inputs` (named "input 0",
    /// "input 1", ...) and each of `parameters`. `function` must build its output from the
    /// variables it is given, on their tape, the same way each time it is called. The parameters'
    /// values and gradients are left as they were.
    public func check(
        inputs: [Tensor<Double>], parameters: [(name: String, parameter: Parameter<Double>)] = [],
        _ function: ([Variable<Double>]) -> Variable<Double>
    ) -> GradientCheckResult {
        let savedGradients = parameters.map(\.parameter.gradient)
        defer { for (entry, gradient) in zip(parameters, savedGradients) { entry.parameter.gradient = gradient } }
        var generator = Xoshiro256StarStar(seed: seed)
        let tape = Tape<Double>()

        // Analytic gradients: one backward pass seeded with the projection.
        for entry in parameters { entry.parameter.gradient = .zeros(entry.parameter.shape) }
        let variables = inputs.map { tape.input($0, requiresGradient: true) }
        let out = function(variables)
        let projection = Tensor<Double>.randomNormal(out.shape, using: &generator)
        tape.backward(out, seed: projection)
        var analytic = variables.map { tape.gradient(of: $0) }
        analytic += parameters.map(\.parameter.gradient)

        func output(_ values: [Tensor<Double>]) -> Tensor<Double> {
            tape.reset()
            let output = function(values.map { tape.input($0) })
            precondition(output.shape == projection.shape,
                         "GradientCheck: the function's output changed shape from \(projection.shape) to \(output.shape)")
            return output.value
        }
        /// sum(projection .* (up - down)) / 2h.
        func derivative(_ up: Tensor<Double>, _ down: Tensor<Double>) -> Double {
            var total = 0.0
            for k in 0..<up.count { total += projection.unsafeBaseAddress[k] * (up.unsafeBaseAddress[k] - down.unsafeBaseAddress[k]) }
            return total / (2 * step)
        }

        var result = GradientCheckResult(worstRelativeError: 0, tensor: "", element: 0, analytic: 0, numeric: 0, checkedElements: 0)
        func compare(_ name: String, _ element: Int, analytic: Double, numeric: Double) {
            let error = Swift.abs(analytic - numeric) / Swift.max(Swift.abs(analytic), Swift.abs(numeric), floor)
            result.checkedElements += 1
            // `!(error <= worst)` also records a NaN.
            if result.tensor.isEmpty || !(error <= result.worstRelativeError) {
                result = GradientCheckResult(worstRelativeError: error, tensor: name, element: element, analytic: analytic,
                                             numeric: numeric, checkedElements: result.checkedElements)
            }
        }

        for (index, input) in inputs.enumerated() {
            var values = inputs
            let gradient = analytic[index]
            for element in 0..<input.count {
                var shifted = input
                shifted.withUnsafeMutableBufferPointer { $0[element] += step }
                values[index] = shifted
                let up = output(values)
                shifted.withUnsafeMutableBufferPointer { $0[element] -= 2 * step }
                values[index] = shifted
                let down = output(values)
                compare("input \(index)", element, analytic: gradient.unsafeBaseAddress[element], numeric: derivative(up, down))
            }
        }
        for (offset, entry) in parameters.enumerated() {
            let parameter = entry.parameter, original = parameter.value
            let gradient = analytic[inputs.count + offset]
            for element in 0..<original.count {
                parameter.value = original
                parameter.value.withUnsafeMutableBufferPointer { $0[element] += step }
                let up = output(inputs)
                parameter.value = original
                parameter.value.withUnsafeMutableBufferPointer { $0[element] -= step }
                let down = output(inputs)
                compare("parameter \(entry.name)", element, analytic: gradient.unsafeBaseAddress[element], numeric: derivative(up, down))
            }
            parameter.value = original
        }
        return result
    }
}

/// What `GradientCheck` found: the worst element's relative error and where it is.
public struct GradientCheckResult: CustomStringConvertible, Sendable {
    /// The largest relative error over every checked element (NaN if any gradient is NaN).
    public var worstRelativeError: Double
    /// Which tensor holds the worst element: "input 0", "parameter 0.weight", ...
    public var tensor: String
    /// The worst element's index in the tensor, flat in row-major order.
    public var element: Int
    /// The worst element's gradient from the backward pass, and from finite differences.
    public var analytic: Double, numeric: Double
    /// How many elements were checked.
    public var checkedElements: Int

    /// Whether every element's relative error is at most `tolerance`.
    public func passes(tolerance: Double = 1e-6) -> Bool { worstRelativeError <= tolerance }

    public var description: String {
        guard checkedElements > 0 else { return "gradient check: nothing to check (no inputs or parameters)" }
        return "gradient check: worst relative error \(worstRelativeError) at \(tensor)[\(element)] "
            + "(backward \(analytic), finite differences \(numeric)), over \(checkedElements) elements"
    }
}
