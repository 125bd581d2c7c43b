/// Cross-entropy over softmax, as PyTorch's `nn.CrossEntropyLoss()` with integer class targets
/// (`reduction="mean"`): for logits z of shape [B, C] and classes y in 0..<C,
/// `loss = (1/B) sum_i (logsumexp(z_i) - z_i[y_i])`, with `logsumexp(z) = m + log sum_j exp(z_j - m)`,
/// m = max_j z_j, so no exp overflows. One fused op: the backward is `(softmax(z) - onehot(y)) / B`.
///
/// The forward caches the softmax probabilities (B x C) and the class indices (B) after them:
/// the backward reads nothing else.

/// Forward over [rows, classes] logits: writes the softmax into `probabilities` and returns the
/// mean over rows of `logsumexp - z[class]`. `classes` holds each row's class as a Scalar.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func crossEntropyForward<Scalar: BLASScalar>(
    logits: UnsafePointer<Scalar>, classes: UnsafePointer<Scalar>, probabilities: UnsafeMutablePointer<Scalar>,
    rows: Int, classCount: Int
) -> Scalar {
    var total = 0.0
    for row in 0..<rows {
        let z = logits + row &* classCount, p = probabilities + row &* classCount
        var largest = z[0]
        for j in 1..<max(classCount, 1) where z[j] > largest { largest = z[j] }
        var sum: Scalar = 0
        for j in 0..<classCount {
            let e = Scalar.exp(z[j] - largest)
            p[j] = e
            sum += e
        }
        let inverse = 1 / sum
        for j in 0..<classCount { p[j] *= inverse }
        // logsumexp - z[y] = log(sum) - (z[y] - m): without forming m + log(sum), whose rounding
        // at |m| = 1000 in Float (ulp 6e-5) would swamp a loss of O(1).
        total += Double(Scalar.log(sum) - (z[Int(classes[row])] - largest))
    }
    return Scalar(total / Double(rows))
}

/// dlogits (+)= dloss * (probabilities - onehot(classes)) / rows.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func crossEntropyBackward<Scalar: BLASScalar>(
    logitsGradient: UnsafeMutablePointer<Scalar>, accumulate: Bool, lossGradient: Scalar,
    probabilities: UnsafePointer<Scalar>, classes: UnsafePointer<Scalar>, rows: Int, classCount: Int
) {
    let factor = lossGradient / Scalar(rows)
    for row in 0..<rows {
        let p = probabilities + row &* classCount, dz = logitsGradient + row &* classCount
        let target = Int(classes[row])
        for j in 0..<classCount {
            let contribution = factor * (j == target ? p[j] - 1 : p[j])
            dz[j] = accumulate ? dz[j] + contribution : contribution
        }
    }
}

extension Tape {
    func crossEntropyBackwardStep(_ node: Node<Scalar>, logits: Node<Scalar>) {
        guard logits.requiresGradient else { return }
        let (rows, classCount) = (logits.value.shape[0], logits.value.shape[1])
        let (logitsGradient, accumulate) = logits.gradientForContribution()
        let probabilities = node.cache.unsafeBaseAddress
        crossEntropyBackward(logitsGradient: logitsGradient, accumulate: accumulate,
                             lossGradient: node.gradient.unsafeBaseAddress.pointee,
                             probabilities: probabilities, classes: probabilities + rows &* classCount,
                             rows: rows, classCount: classCount)
    }
}

/// The mean over rows of the cross-entropy between `softmax(logits)` and the classes, as a scalar
/// variable: PyTorch's `F.cross_entropy(logits, classes)`.
/// - Parameters:
///   - logits: [rows, classes].
///   - classes: [rows, 1] (or [rows]) of class indices 0..<classes, stored as numbers; a value
///     that is not such an integer stops with a message naming the row.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func crossEntropy<Scalar: BLASScalar>(_ logits: Variable<Scalar>, classes: Tensor<Scalar>) -> Variable<Scalar> {
    let tape = logits.tape
    let input = tape.node(of: logits, in: "crossEntropy")
    precondition(input.value.rank == 2 && input.value.shape[1] >= 1 && classes.count == input.value.shape[0],
                 "crossEntropy: logits of shape \(input.value.shape) ([rows, classes]) but \(classes.count) class labels")
    let (rows, classCount) = (input.value.shape[0], input.value.shape[1])
    let node = tape.nextNode(shape: [], operation: .crossEntropy(logits: logits.index))
    node.prepareCache(count: rows &* classCount &+ rows)
    let probabilities = node.cache.unsafeMutableBaseAddress()
    let cachedClasses = probabilities + rows &* classCount
    classes.withUnsafeBufferPointer { source in
        for row in 0..<rows {
            let label = source[row]
            if _slowPath(!(label >= 0 && label < Scalar(classCount) && label.rounded() == label)) {
                preconditionFailure("crossEntropy: row \(row) has class \(label); expected an integer from 0 to \(classCount - 1)")
            }
            cachedClasses[row] = label
        }
    }
    node.value.unsafeMutableBaseAddress().pointee = crossEntropyForward(
        logits: input.value.unsafeBaseAddress, classes: cachedClasses, probabilities: probabilities,
        rows: rows, classCount: classCount)
    node.requiresGradient = input.requiresGradient
    return tape.recordedVariable()
}
