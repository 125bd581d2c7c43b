import Glibc

/// A log-spaced grid from `from` to `to`, both included, with `perDecade` points in each decade:
/// `from * 10^(k / perDecade)` for k = 0, 1, ... while it stays below `to`, then `to` itself.
/// The default 1 ... 10^4 with 4 a decade has 17 points. When `to / from` is not a whole number
/// of steps, the last step is shorter.
public func lambdaGrid(from: Double, to: Double, perDecade: Int) -> [Double] {
    precondition(from > 0 && to >= from && to.isFinite && perDecade > 0,
                 "lambdaGrid: needs 0 < from <= to < infinity and perDecade > 0, got from \(from), to \(to), perDecade \(perDecade)")
    let (wholeSteps, endsOnTo) = lambdaGridSteps(from: from, to: to, perDecade: perDecade)
    precondition(wholeSteps < 1e8, "lambdaGrid: from \(from) to \(to) at \(perDecade) a decade is more than 10^8 points")
    var values = (0...Int(wholeSteps)).map { from * pow(10, Double($0) / Double(perDecade)) }
    if endsOnTo {
        values[values.count - 1] = to
    } else {
        values.append(to)
    }
    return values
}

/// The number of points ``lambdaGrid(from:to:perDecade:)`` returns, without building the grid:
/// a `Double`, so absurd arguments give a huge count rather than a trap (5.8e21 from 1e-320 to
/// 1e308 at `Int.max` a decade); NaN when the arguments describe no grid.
public func lambdaGridCount(from: Double, to: Double, perDecade: Int) -> Double {
    guard from > 0, to >= from, to.isFinite, perDecade > 0 else { return .nan }
    let (wholeSteps, endsOnTo) = lambdaGridSteps(from: from, to: to, perDecade: perDecade)
    return wholeSteps + (endsOnTo ? 1 : 2)
}

/// The whole steps of 10^(1/perDecade) from `from` up to `to`, and whether the last of them lands
/// on `to` (within 1e-9), so that `to` replaces it rather than following it.
private func lambdaGridSteps(from: Double, to: Double, perDecade: Int) -> (wholeSteps: Double, endsOnTo: Bool) {
    // In decades of each end, so that `to / from` cannot overflow (1e308 / 1e-320).
    let steps = (log10(to) - log10(from)) * Double(perDecade)
    guard steps.isFinite else { return (.infinity, false) }
    // A hair of tolerance so 1 ... 10^4 (4 a decade) counts 16 steps, not 15.99999.
    let wholeSteps = (steps + 1e-9).rounded(.down)
    let last = from * pow(10, wholeSteps / Double(perDecade))
    // `last` may round past `to`, even to infinity next to the largest Double: then it is `to`.
    return (wholeSteps, last >= to || abs(last / to - 1) < 1e-9)
}
