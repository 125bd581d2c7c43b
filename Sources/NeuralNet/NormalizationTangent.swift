/// The tangent of LayerNorm and of RMSNorm as one fused op: for each sample's row x (n features)
/// and each of its d tangent rows t (`ValueAndTangents`' blocks), out = gamma .* z with
///   h = (x - mu) r, r = 1 / sqrt(var(x) + eps)          (RMSNorm: mu = 0, var -> mean(x^2)),
///   c = t - mean(t) (RMSNorm: c = t), s = (h . t) / n, z = r (c - h s),
/// the derivative of the normalisation along t: d h = r P t with P = I - 1 1ᵀ/n - h hᵀ/n (RMSNorm:
/// without the 1 1ᵀ/n), which is symmetric. Backward with g = dout .* gamma, gbar = mean(g)
/// (RMSNorm: 0), A = g . c, G = g . h, from dr/dx = -r^2 h / n, dh/dx = r P and ds/dx = z / n:
///   dt += r (g - gbar - h G / n),
///   dx += sum over the row's tangents of -(r^2 / n) A h + 2 (r^2 / n) s G h - (r / n) G z - r^2 s (g - gbar),
///   dgamma += sum over all tangent rows of dout .* z.
/// The forward caches each sample's mu and r (2 B scalars) and each tangent row's s (d B).

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func normalizationTangentForward<Scalar: BLASScalar>(
    out: UnsafeMutablePointer<Scalar>, cache: UnsafeMutablePointer<Scalar>, input: UnsafePointer<Scalar>,
    tangents: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?, m: Int, n: Int, blockCount: Int,
    centred: Bool, epsilon: Scalar
) {
    let (mean, rstd, projections) = (cache, cache + m, cache + 2 &* m)
    let count = Scalar(n)
    for i in 0..<m {
        let x = input + i &* n
        var mu: Scalar = 0
        if centred {
            for k in 0..<n { mu += x[k] }
            mu /= count
        }
        var variance: Scalar = 0
        for k in 0..<n { variance += (x[k] - mu) * (x[k] - mu) }
        let r = 1 / Scalar.sqrt(variance / count + epsilon)
        (mean[i], rstd[i]) = (mu, r)
        for block in 0..<blockCount {
            let row = block &* m &+ i
            let (t, z) = (tangents + row &* n, out + row &* n)
            var (tangentMean, s): (Scalar, Scalar) = (0, 0)
            for k in 0..<n {
                tangentMean += t[k]
                s += t[k] * (x[k] - mu) * r
            }
            tangentMean = centred ? tangentMean / count : 0
            s /= count
            projections[row] = s
            for k in 0..<n {
                let value = r * (t[k] - tangentMean - (x[k] - mu) * r * s)
                z[k] = weight.map { $0[k] * value } ?? value
            }
        }
    }
}

@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func normalizationTangentBackward<Scalar: BLASScalar>(
    inputGradient: UnsafeMutablePointer<Scalar>?, tangentsGradient: UnsafeMutablePointer<Scalar>?,
    weightGradient: UnsafeMutablePointer<Scalar>?, outGradient: UnsafePointer<Scalar>, cache: UnsafePointer<Scalar>,
    input: UnsafePointer<Scalar>, tangents: UnsafePointer<Scalar>, weight: UnsafePointer<Scalar>?,
    m: Int, n: Int, blockCount: Int, centred: Bool
) {
    let (mean, rstd, projections) = (cache, cache + m, cache + 2 &* m)
    let count = Scalar(n)
    for i in 0..<m {
        let x = input + i &* n
        let (mu, r) = (mean[i], rstd[i])
        for block in 0..<blockCount {
            let row = block &* m &+ i
            let (t, dout) = (tangents + row &* n, outGradient + row &* n)
            let s = projections[row]
            var (tangentMean, gradientMean, a, gh): (Scalar, Scalar, Scalar, Scalar) = (0, 0, 0, 0)
            for k in 0..<n {
                let g = weight.map { $0[k] * dout[k] } ?? dout[k]
                tangentMean += t[k]
                gradientMean += g
                a += g * t[k]
                gh += g * (x[k] - mu) * r
            }
            if centred {
                (tangentMean, gradientMean) = (tangentMean / count, gradientMean / count)
                a -= gradientMean * tangentMean * count        // g . (t - mean(t))
            } else {
                (tangentMean, gradientMean) = (0, 0)
            }
            for k in 0..<n {
                let g = weight.map { $0[k] * dout[k] } ?? dout[k]
                let h = (x[k] - mu) * r
                let z = r * (t[k] - tangentMean - h * s)
                tangentsGradient?[row &* n &+ k] += r * (g - gradientMean - h * gh / count)
                let throughScale: Scalar = r * r / count * (2 * s * gh - a) * h
                let throughProjection: Scalar = r / count * gh * z + r * r * s * (g - gradientMean)
                inputGradient?[i &* n &+ k] += throughScale - throughProjection
                weightGradient?[k] += dout[k] * z
            }
        }
    }
}

extension Tape {
    /// Records the tangents of `layerNorm` (`centred`) or `rmsNorm` of `x` along `tangents`
    /// ([d B, n], d blocks of x's [B, n]): gamma .* d xhat, with gamma = `weight` (none: 1).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func normalizationTangent(
        _ x: Variable<Scalar>, tangents: Variable<Scalar>, weight: Parameter<Scalar>?, centred: Bool, epsilon: Scalar
    ) -> Variable<Scalar> {
        let (input, tangentNode) = (node(of: x, in: "normalizationTangent"), node(of: tangents, in: "normalizationTangent"))
        let (shape, tangentShape) = (input.value.shape, tangentNode.value.shape)
        precondition(shape.count == 2 && tangentShape.count == 2 && shape[0] > 0 && tangentShape[0] % shape[0] == 0
                        && tangentShape[1] == shape[1],
                     "normalizationTangent: tangents of shape \(tangentShape) are not whole blocks of the input's shape \(shape)")
        let (m, n) = (shape[0], shape[1])
        if let weight { precondition(weight.shape == [n], "normalizationTangent: weight of shape \(weight.shape) for \(n) features") }
        let node = nextNode(shape: tangentShape, operation: .normalizationTangent(
            input: x.index, tangents: tangents.index, weight: weight, centred: centred))
        node.prepareCache(count: 2 &* m &+ tangentShape[0])
        normalizationTangentForward(
            out: node.value.unsafeMutableBaseAddress(), cache: node.cache.unsafeMutableBaseAddress(),
            input: input.value.unsafeBaseAddress, tangents: tangentNode.value.unsafeBaseAddress,
            weight: weight?.value.unsafeBaseAddress, m: m, n: n, blockCount: tangentShape[0] / m,
            centred: centred, epsilon: epsilon)
        node.requiresGradient = input.requiresGradient || tangentNode.requiresGradient || weight != nil
        return recordedVariable()
    }

    func normalizationTangentBackwardStep(
        _ node: Node<Scalar>, input: Node<Scalar>, tangents: Node<Scalar>, weight: Parameter<Scalar>?, centred: Bool
    ) {
        let (m, n) = (input.value.shape[0], input.value.shape[1])
        let inputGradient = input.requiresGradient ? input.gradientToAddInto() : nil
        let tangentsGradient = tangents.requiresGradient ? tangents.gradientToAddInto() : nil
        normalizationTangentBackward(
            inputGradient: inputGradient, tangentsGradient: tangentsGradient, weightGradient: parameterGradient(weight),
            outGradient: node.gradient.unsafeBaseAddress, cache: node.cache.unsafeBaseAddress,
            input: input.value.unsafeBaseAddress, tangents: tangents.value.unsafeBaseAddress,
            weight: weight?.value.unsafeBaseAddress, m: m, n: n, blockCount: node.value.shape[0] / m, centred: centred)
    }
}
