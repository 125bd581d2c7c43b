/// `training.earlyStop`: stop once the training loss has not fallen by at least `minDecrease`
/// below its best value within `window` epochs (Keras' `EarlyStopping(min_delta, patience)`),
/// a plateau test for runs trained to convergence, such as full-batch gradient descent. The
/// epoch cap is `training.epochs`; `targetLoss` stops a run that reaches a given loss.
public struct EarlyStopConfig: Sendable, Equatable {
    public static let defaultWindow = 100
    public static let defaultMinDecrease = 1e-7

    /// Epochs the loss has to improve within.
    public var window: Int
    /// The smallest drop below the best loss so far that counts as an improvement (absolute, in
    /// the loss's units).
    public var minDecrease: Double

    /// A window of 100 epochs and a decrease of 1e-7.
    public init(window: Int = EarlyStopConfig.defaultWindow, minDecrease: Double = EarlyStopConfig.defaultMinDecrease) {
        self.window = window
        self.minDecrease = minDecrease
    }
}

/// The plateau test of ``EarlyStopConfig`` as training goes: the best loss and the epoch it was
/// reached, two numbers (no history), saved with a checkpoint so a resumed run stops where an
/// unstopped one does.
public struct EarlyStopState: Sendable, Equatable {
    /// The best loss so far (lowered only by a drop of at least `minDecrease`), and its epoch.
    public var bestLoss: Double
    public var bestEpoch: Int

    /// Before training: no loss yet.
    public init(bestLoss: Double = .infinity, bestEpoch: Int = 0) {
        self.bestLoss = bestLoss
        self.bestEpoch = bestEpoch
    }

    /// Takes epoch `epoch`'s loss; true when training should stop: no improvement of at least
    /// `minDecrease` in the last `window` epochs.
    public mutating func shouldStop(after epoch: Int, loss: Double, _ config: EarlyStopConfig) -> Bool {
        if loss <= bestLoss - config.minDecrease || bestLoss == .infinity {
            bestLoss = loss
            bestEpoch = epoch
            return false
        }
        return epoch - bestEpoch >= config.window
    }
}

// MARK: - Decoding

extension EarlyStopConfig {
    static let keys = ["window", "minDecrease"]

    static func decode(_ object: ConfigObject) -> EarlyStopConfig {
        var earlyStop = EarlyStopConfig()
        earlyStop.window = object.value("window", default: defaultWindow) {
            $0.integer("a positive integer (epochs the loss has to improve within)", in: 1...largestSize)
        }
        earlyStop.minDecrease = object.value("minDecrease", default: defaultMinDecrease) { $0.number("a number >= 0") { $0 >= 0 } }
        object.finish(known: keys)
        return earlyStop
    }
}

// MARK: - Encoding

extension EarlyStopConfig {
    /// The `training.earlyStop` object.
    public var json: JSONValue {
        .object([JSONMember("window", .number(window)), JSONMember("minDecrease", .number(minDecrease))])
    }
}
