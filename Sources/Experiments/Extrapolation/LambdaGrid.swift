import Glibc

/// A log-spaced grid from `from` to `to`, both included, with `perDecade` points in each decade:
/// `from * 10^(k / perDecade)` for k = 0, 1, ... while it stays below `to`, then `to` itself.
/// The default 1 ... 10^4 with 4 a decade has 17 points. When `to / from` is not a whole number
/// of steps, the last step is shorter.
public func lambdaGrid(from: Double, to: Double, perDecade: Int) -> [Double] {
    precondition(from > 0 && to >= from && perDecade > 0,
                 "lambdaGrid: needs 0 < from <= to and perDecade > 0, got from \(from), to \(to), perDecade \(perDecade)")
    let steps = log10(to / from) * Double(perDecade)
    // A hair of tolerance so 1 ... 10^4 (4 a decade) counts 16 steps, not 15.99999.
    let wholeSteps = Int((steps + 1e-9).rounded(.down))
    var values = (0...wholeSteps).map { from * pow(10, Double($0) / Double(perDecade)) }
    if abs(values[values.count - 1] / to - 1) < 1e-9 {
        values[values.count - 1] = to
    } else {
        values.append(to)
    }
    return values
}
