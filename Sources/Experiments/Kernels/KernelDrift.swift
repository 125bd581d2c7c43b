import Glibc

/// The empirical NTK on the probe points at one moment of training: one row of `kernel.csv`.
public struct KernelDriftRecord: Sendable, Equatable {
    /// Epochs completed (0: at initialisation).
    public var epoch: Int
    /// `||Theta_t - Theta_0||_F / ||Theta_0||_F`: how far the kernel moved (Seleznova & Kutyniok's measure).
    public var kernelChange: Double
    /// `||Theta_t - Theta_inf||_F / ||Theta_inf||_F`, Theta_inf the analytic (infinite-width) NTK; nil
    /// where the comparison means nothing (see ``KernelDriftTracker/analyticComparison(model:)``).
    public var distanceToAnalytic: Double?
    /// The largest eigenvalue of Theta_t.
    public var topEigenvalue: Double
    /// Kernel-target alignment `yᵀ Theta y / (||Theta||_F ||y||^2)`, in [-1, 1] (1: y is Theta's top eigenvector).
    public var alignment: Double

    public init(epoch: Int, kernelChange: Double, distanceToAnalytic: Double?, topEigenvalue: Double, alignment: Double) {
        self.epoch = epoch
        self.kernelChange = kernelChange
        self.distanceToAnalytic = distanceToAnalytic
        self.topEigenvalue = topEigenvalue
        self.alignment = alignment
    }

    /// The record of `kernel` against the initial kernel and, where there is one, the analytic one.
    /// All matrices are N x N over the same probe points; `targets` holds their N targets.
    public static func measuring(_ kernel: Tensor<Double>, epoch: Int, initial: Tensor<Double>, analytic: Tensor<Double>?,
                                 targets: [Double]) throws -> KernelDriftRecord {
        precondition(kernel.shape == initial.shape && kernel.shape == [targets.count, targets.count]
                     && (analytic?.shape ?? kernel.shape) == kernel.shape,
                     "KernelDriftRecord: kernels \(kernel.shape), \(initial.shape), \(analytic?.shape ?? []) and \(targets.count) targets disagree")
        let norm = frobeniusNorm(kernel)
        // yᵀ Theta y, one row at a time.
        var quadratic = 0.0
        kernel.withUnsafeBufferPointer { theta in
            let n = targets.count
            for i in 0..<n {
                var row = 0.0
                for j in 0..<n { row += theta[i &* n &+ j] * targets[j] }
                quadratic += targets[i] * row
            }
        }
        let targetNormSquared = targets.reduce(0) { $0 + $1 * $1 }
        return KernelDriftRecord(
            epoch: epoch,
            kernelChange: frobeniusDistance(kernel, initial) / frobeniusNorm(initial),
            distanceToAnalytic: analytic.map { frobeniusDistance(kernel, $0) / frobeniusNorm($0) },
            topEigenvalue: try kernel.largestSymmetricEigenvalue(),
            alignment: quadratic / (norm * targetNormSquared))
    }
}

/// `||A||_F`.
func frobeniusNorm(_ a: Tensor<Double>) -> Double {
    a.withUnsafeBufferPointer { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
}

/// `||A - B||_F`.
func frobeniusDistance(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in
            var sum = 0.0
            for k in 0..<x.count { let d = x[k] - y[k]; sum += d * d }
            return sum.squareRoot()
        }
    }
}

/// The kernel drift of one training run: the empirical NTK on the probe points (the first N
/// training points) at initialisation and after chosen epochs, each compared with the initial
/// kernel and the analytic one. Computed by the structured method (Gram products of one forward
/// and one backward pass, `empiricalTangentKernel`), in the run's precision, then in Float64.
public final class KernelDriftTracker<Scalar: BLASScalar> {
    public let model: Sequential<Scalar>
    public let probeInputs: Tensor<Scalar>
    /// The probe points' targets (for the alignment).
    public let probeTargets: [Double]
    /// Theta_0, the kernel at initialisation.
    public let initialKernel: Tensor<Double>
    /// Theta_inf where the comparison is meaningful, else nil.
    public let analyticKernel: Tensor<Double>?
    /// Every measurement so far, epoch ascending (epoch 0 first).
    public private(set) var records: [KernelDriftRecord] = []

    /// Measures the kernel of `model` as it is now (call it before training) as Theta_0.
    /// - Parameter analyticKernel: Theta_inf on the probe points, or nil (``analyticComparison(model:)``).
    public init(model: Sequential<Scalar>, probeInputs: Tensor<Scalar>, probeTargets: [Double],
                analyticKernel: Tensor<Double>?) throws {
        self.model = model
        self.probeInputs = probeInputs
        self.probeTargets = probeTargets
        self.analyticKernel = analyticKernel
        initialKernel = try model.empiricalTangentKernel(probeInputs).converted(to: Double.self)
        records = [try KernelDriftRecord.measuring(initialKernel, epoch: 0, initial: initialKernel, analytic: analyticKernel,
                                                   targets: probeTargets)]
    }

    /// Measures the kernel after `epoch` epochs and appends the record (replacing any record of a
    /// later or the same epoch, which a resumed run measures again).
    @discardableResult
    public func measure(epoch: Int) throws -> KernelDriftRecord {
        let kernel = try model.empiricalTangentKernel(probeInputs).converted(to: Double.self)
        let record = try KernelDriftRecord.measuring(kernel, epoch: epoch, initial: initialKernel, analytic: analyticKernel,
                                                     targets: probeTargets)
        records.removeAll { $0.epoch >= epoch && epoch > 0 }
        records.append(record)
        return record
    }

    /// Takes the records a killed run wrote (`kernel.csv`) up to `epoch` (its checkpoint's),
    /// after the epoch-0 record this tracker measured itself.
    public func restore(_ earlier: [KernelDriftRecord], upTo epoch: Int) {
        records = [records[0]] + earlier.filter { $0.epoch > 0 && $0.epoch <= epoch }
    }

    /// Why the analytic NTK does or does not describe this network's empirical NTK, and the
    /// analytic network when it does: the analytic kernels describe the NTK parameterisation (in
    /// the standard one a weight's gradient carries its layer's width, and the empirical NTK grows
    /// with width: no finite limit to compare with), and a network whose every layer has a kernel
    /// map (``Layer/infiniteWidthKernel(_:_:threads:)`` throws for the others: learned norm scales,
    /// activations without a map).
    public static func analyticKernel(model: ModelConfig, probeInputs: Tensor<Scalar>) -> (kernel: Tensor<Double>?, reason: String) {
        guard model.parameterization == .ntk else {
            return (nil, "standard parameterisation: the empirical NTK grows with the width there, and the analytic NTK "
                + "describes the NTK parameterisation")
        }
        let network = model.analyticNetwork(inputSize: probeInputs.columns)
        do {
            return (try network.infiniteWidthKernel(probeInputs.converted(to: Double.self)).ntk, "analytic NTK")
        } catch {
            return (nil, "no analytic kernel for this network: \(error)")
        }
    }
}

// MARK: - kernel.csv

/// `kernel.csv`: `epoch,kernel_change,kernel_distance_to_analytic,top_eigenvalue,alignment`, one
/// row per measurement; the distance is empty where there is no analytic kernel to compare with.
public enum KernelDriftCSV {
    public static let header = "epoch,kernel_change,kernel_distance_to_analytic,top_eigenvalue,alignment"

    public static func text(_ records: [KernelDriftRecord]) -> String {
        ([header] + records.map {
            "\($0.epoch)," + csvNumber($0.kernelChange) + "," + ($0.distanceToAnalytic.map(csvNumber) ?? "") + ","
                + csvNumber($0.topEigenvalue) + "," + csvNumber($0.alignment)
        }).joined(separator: "\n") + "\n"
    }

    public static func write(_ records: [KernelDriftRecord], to path: String) throws {
        try AtomicFile.write(text(records), to: path)
    }

    /// Reads back what ``write(_:to:)`` wrote.
    public static func read(_ path: String) throws -> [KernelDriftRecord] {
        let lines = CSVLine.lines(of: try AtomicFile.readText(path))
        guard let first = lines.first, first.text == header else {
            throw FormatError(path: path, location: .row(1), problem: "expected the header \"\(header)\"")
        }
        return try lines.dropFirst().filter { !$0.isBlank }.map { line in
            let fields = try line.fields(file: path)
            guard fields.count == 5, let epoch = Int(fields[0]), let change = Double(fields[1]),
                  let top = Double(fields[3]), let alignment = Double(fields[4]),
                  fields[2].isEmpty || Double(fields[2]) != nil else {
                throw FormatError(path: path, location: .row(line.number), problem: "expected an epoch and four numbers "
                    + "(the third may be empty), found \"\(line.text)\"")
            }
            return KernelDriftRecord(epoch: epoch, kernelChange: change, distanceToAnalytic: Double(fields[2]),
                                     topEigenvalue: top, alignment: alignment)
        }
    }
}

/// The first `count` rows of a matrix (all of them when it has no more), copied.
func leadingRows<Scalar: BLASScalar>(_ x: Tensor<Scalar>, _ count: Int) -> Tensor<Scalar> {
    let rows = min(count, x.rows)
    if rows == x.rows { return x }
    return x.withUnsafeBufferPointer { Tensor(shape: [rows, x.columns], scalars: Array($0[0..<(rows * x.columns)])) }
}
