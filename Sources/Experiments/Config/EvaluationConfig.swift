import Glibc

/// How extrapolation is measured: the scales, the directions, and the 1-D curve.
public struct EvaluationConfig: Sendable, Equatable {
    public static let defaultDirections = DirectionChoice.training
    /// More scales than this is a typo, not an experiment.
    static let largestGrid = 100_000

    public var lambdas: LambdaGridConfig
    public var directions: DirectionChoice
    /// For 1-D inputs: where to draw the prediction curve; nil for none.
    public var curve: CurveConfig?
    /// The empirical NTK's drift in training and dispersion at initialisation; nil for none.
    public var kernel: KernelEvaluationConfig?
    /// Also train the network linearised at its initialisation, in closed form, and compare
    /// (`LinearizedComparison.swift`; full-batch gradient descent on the MSE only).
    public var linearized = false
    /// Gradient descent at smaller steps and gradient flow beside the run (TrajectoryConfig.swift); nil for none.
    public var trajectory: TrajectoryConfig?

    /// Measure the input Jacobian's size: the mean ||df/dx||_F^2 on the training set
    /// (`meanSquaredJacobianNorm` in metrics.json) and the mean ||df/dx||_F along the rays
    /// (`jacobian_norm` in extrapolation.csv). Off by default (a tangent pass per input dimension);
    /// a run with a Jacobian penalty measures them whatever this says.
    public var jacobianNorms: Bool


    public init(lambdas: LambdaGridConfig = .init(), directions: DirectionChoice = EvaluationConfig.defaultDirections,
                curve: CurveConfig? = nil, kernel: KernelEvaluationConfig? = nil, jacobianNorms: Bool = false) {
        self.lambdas = lambdas
        self.directions = directions
        self.curve = curve
        self.kernel = kernel
        self.jacobianNorms = jacobianNorms
    }

    /// The curve when the config names none: ten times the training interval for 1-D synthetic
    /// data; none otherwise (a CSV's range is not known until it is read).
    static func defaultCurve(for data: DataConfig) -> CurveConfig? {
        if case .synthetic(let synthetic) = data, synthetic.inputDim == 1 { return .around(synthetic.domain) }
        return nil
    }
}

/// A log-spaced grid of scales from `from` to `to` (both included) with `perDecade` points a decade.
public struct LambdaGridConfig: Sendable, Equatable {
    public static let defaultFrom = 1.0
    public static let defaultTo = 10_000.0
    public static let defaultPerDecade = 4

    public var from: Double
    public var to: Double
    public var perDecade: Int
    /// 1 to 10^4, 4 points a decade: 17 scales.
    public init(from: Double = LambdaGridConfig.defaultFrom, to: Double = LambdaGridConfig.defaultTo,
                perDecade: Int = LambdaGridConfig.defaultPerDecade) {
        self.from = from
        self.to = to
        self.perDecade = perDecade
    }
    /// The grid's values, ascending.
    public var values: [Double] { lambdaGrid(from: from, to: to, perDecade: perDecade) }
}

/// The rays `x -> lambda * u` are walked along.
public enum DirectionChoice: Sendable, Equatable {
    /// Every training input u as it is (so lambda = 1 is the training data).
    case training
    /// This many random unit vectors, drawn uniformly on the sphere.
    case random(Int)
}

/// `points` evenly spaced inputs from `from` to `to` (1-D inputs only).
public struct CurveConfig: Sendable, Equatable {
    public static let defaultPoints = 401

    public var from: Double
    public var to: Double
    public var points: Int
    public init(from: Double, to: Double, points: Int = CurveConfig.defaultPoints) {
        self.from = from
        self.to = to
        self.points = points
    }

    /// The inputs, ascending, first `from` and last `to`.
    public var inputs: [Double] {
        guard points > 1 else { return [from] }
        return (0..<points).map { index in
            index == points - 1 ? to : interpolate(from: from, to: to, step: index, of: points - 1)
        }
    }

    /// The default for a 1-D training interval: ten times as wide, around the same centre.
    public static func around(_ domain: Interval) -> CurveConfig {
        // Clamped: around a domain near ±1e308 ten times as wide is past the largest Double.
        CurveConfig(from: clampedToFinite(midpoint(domain.lower, domain.upper) - 5 * domain.width),
                    to: clampedToFinite(midpoint(domain.lower, domain.upper) + 5 * domain.width))
    }
}

// MARK: - Decoding

extension EvaluationConfig {
    static let keys = ["lambdas", "directions", "curve", "kernel", "linearized", "trajectory", "jacobianNorms"]

    static func decode(_ object: ConfigObject?, data: DataConfig, context: DecodingContext) -> EvaluationConfig {
        var evaluation = EvaluationConfig()
        evaluation.curve = defaultCurve(for: data)
        guard let object else { return evaluation }
        if let lambdas = object.take("lambdas")?.object() {
            evaluation.lambdas = LambdaGridConfig.decode(lambdas)
        }
        evaluation.directions = object.value("directions", default: defaultDirections) { node -> DirectionChoice? in
            let expectation = "\"train\" or {\"random\": N} with N a positive integer"
            switch node.value {
            case .string("train"): return .training
            case .object:
                guard let random = node.object() else { return nil }
                let count = random.take("random").flatMap { $0.integer("a positive integer", in: 1...largestSize) }
                random.finish(known: ["random"])
                if count == nil, !random.has("random") { return node.mismatch(expectation) }
                return count.map { .random($0) }
            default:
                return node.mismatch(expectation)
            }
        }
        if let curveNode = object.take("curve") {
            // A curve inherited from the base is dropped when the variant's data is not 1-D.
            let inheritedOverNewData = !context.isOverridden(curveNode.path)
                && context.overrideWrote(inside: JSONPath.root.appending("data"))
            if case .string("none") = curveNode.value {
                evaluation.curve = nil
            } else if data.inputDim != 1 {
                if !inheritedOverNewData {
                    curveNode.report("a prediction curve needs 1-D inputs, but the data has \(data.inputDim) input dimensions; use \"none\"")
                }
                evaluation.curve = nil
            } else if let curve = curveNode.object() {
                evaluation.curve = CurveConfig.decode(curve, fallback: evaluation.curve)
            }
        }
        evaluation.kernel = object.take("kernel")?.object().map(KernelEvaluationConfig.decode)
        evaluation.linearized = object.value("linearized", default: false) { $0.bool() }
        evaluation.trajectory = object.take("trajectory")?.object().map(TrajectoryConfig.decode)
        evaluation.jacobianNorms = object.value("jacobianNorms", default: false) { $0.bool() }
        object.finish(known: keys)
        return evaluation
    }
}

extension LambdaGridConfig {
    static func decode(_ lambdas: ConfigObject) -> LambdaGridConfig {
        var grid = LambdaGridConfig()
        grid.from = lambdas.value("from", default: defaultFrom) { $0.number("a number > 0") { $0 > 0 } }
        grid.to = lambdas.value("to", default: defaultTo) { $0.number("a number > 0") { $0 > 0 } }
        grid.perDecade = lambdas.value("perDecade", default: defaultPerDecade) {
            $0.integer("a positive integer", in: 1...EvaluationConfig.largestGrid)
        }
        if grid.to <= grid.from {
            lambdas.context.report(lambdas.path.appending("to"), "must be larger than from (\(plainNumber(grid.from))), found \(plainNumber(grid.to))")
        } else if log10(grid.to / grid.from) * Double(grid.perDecade) + 1 > Double(EvaluationConfig.largestGrid) {
            lambdas.context.report(lambdas.path, "the grid would hold more than \(EvaluationConfig.largestGrid) scales; narrow from...to or lower perDecade")
        }
        lambdas.finish(known: ["from", "to", "perDecade"])
        return grid
    }
}

extension CurveConfig {
    /// `from` and `to` default to `fallback`'s (the default curve), and are required without one.
    static func decode(_ curve: ConfigObject, fallback: CurveConfig?) -> CurveConfig {
        var decoded = CurveConfig(from: fallback?.from ?? 0, to: fallback?.to ?? 1)
        for (key, keyPath) in [("from", \CurveConfig.from), ("to", \CurveConfig.to)] {
            if let node = curve.take(key) {
                decoded[keyPath: keyPath] = node.number("a finite number") ?? decoded[keyPath: keyPath]
            } else if fallback == nil {
                curve.context.report(curve.path.appending(key), "missing; csv data has no default curve range")
            }
        }
        decoded.points = curve.value("points", default: defaultPoints) { $0.integer("an integer from 2 to 1000000", in: 2...1_000_000) }
        if decoded.to <= decoded.from {
            curve.context.report(curve.path.appending("to"), "must be larger than from (\(plainNumber(decoded.from))), found \(plainNumber(decoded.to))")
        }
        curve.finish(known: ["from", "to", "points"])
        return decoded
    }
}

// MARK: - Encoding

extension EvaluationConfig {
    /// The `evaluation` section as JSON.
    public var json: JSONValue {
        let directionsValue: JSONValue = switch directions {
        case .training: .string("train")
        case .random(let count): .object([JSONMember("random", .number(count))])
        }
        let curveValue: JSONValue = curve.map {
            .object([JSONMember("from", .number($0.from)), JSONMember("to", .number($0.to)),
                     JSONMember("points", .number($0.points))])
        } ?? .string("none")
        var members = [
            JSONMember("lambdas", .object([
                JSONMember("from", .number(lambdas.from)),
                JSONMember("to", .number(lambdas.to)),
                JSONMember("perDecade", .number(lambdas.perDecade)),
            ])),
            JSONMember("directions", directionsValue),
            JSONMember("curve", curveValue),
            JSONMember("linearized", .bool(linearized)),
        ]
        // Written only when set, so the config.json of a run without it reads as it always did.
        if let kernel { members.append(JSONMember("kernel", kernel.json)) }
        if let trajectory { members.append(JSONMember("trajectory", trajectory.json)) }
        if jacobianNorms { members.append(JSONMember("jacobianNorms", .bool(true))) }
        return .object(members)
    }
}
