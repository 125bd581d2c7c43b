import Glibc

/// Target functions for synthetic data. Each is a function of one number, the projection
/// `z = (x_1 + ... + x_d) / sqrt(d)` of the input onto the diagonal; in 1-D `z = x`. Dividing by
/// `sqrt(d)` keeps z's spread the same in every dimension (uniform inputs on [-1, 1]^d give z a
/// variance of 1/3 for any d), so a target is equally hard to fit in 1-D and in 10-D.
public enum SyntheticTarget: String, Sendable, CaseIterable {
    /// `sin(pi z)`: one full period over [-1, 1].
    case sin
    /// `z`.
    case linear
    /// `z^2`.
    case quadratic

    /// The target at the projection `z`.
    public func value(projection z: Double) -> Double {
        switch self {
        case .sin: Glibc.sin(Double.pi * z)
        case .linear: z
        case .quadratic: z * z
        }
    }

    /// The target at an input point.
    public func value(at input: [Double]) -> Double {
        value(projection: SyntheticTarget.projection(input))
    }

    /// `(x_1 + ... + x_d) / sqrt(d)`.
    public static func projection(_ input: [Double]) -> Double {
        guard !input.isEmpty else { return 0 }
        return input.reduce(0, +) / Double(input.count).squareRoot()
    }
}
