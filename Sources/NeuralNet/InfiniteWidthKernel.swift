#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The infinite-width kernels of a network's output at two sets of inputs x1 (N1 rows) and x2
/// (N2 rows), in the NTK parameterization:
/// - the NNGP kernel `K(x1_i, x2_j)`: the covariance of the output over random initialisations;
/// - the neural tangent kernel `Theta(x1_i, x2_j)`: the limit of the empirical NTK, which governs
///   training by gradient descent;
/// - their diagonals `K(x, x)` and `Theta(x, x)` over each set, which the layers' maps read.
///
/// Start from the inputs (`init(_:_:)`: `K = x1 · x2 / d`, `Theta = 0`) and apply each layer's
/// `kernelMap(_:)` in order, the kernel counterpart of the forward pass, as `Sequential` does:
/// ```swift
/// let network = Sequential<Double>(Dense(ntk: 3, 512, ...), LayerNorm(512, affine: false), ReLU(), Dense(ntk: 512, 1, ...))
/// var kernel = InfiniteWidthKernel(x1, x2)
/// try network.kernelMap(&kernel)      // kernel.ntk is Theta(x1, x2)
/// ```
/// The maps ignore the layers' widths and parameter values: they use only the architecture and
/// sigma_w, sigma_b. They are computed in Float64 whatever the network's scalar type.
///
/// A layer's map changes `nngp` and `ntk` entry by entry from the diagonals, so a block of rows of
/// x1 against a block of x2 can be mapped on its own; `TangentKernels` does that in cache-sized
/// tiles, which is much faster for large N than mapping whole matrices.
///
/// ## Writing a kernel map for a layer of your own
/// Implement `Layer.kernelMap(_:)` with the maps here (`applyDense`, `applyActivation`,
/// `applyLayerNorm`), or change the kernels yourself through `withMutableBuffers`, keeping what
/// the tiling relies on:
/// - map every entry of `nngp`/`ntk` and the diagonals by the same rule, each entry from its own
///   value and the two points' diagonal entries only (a tile holds some rows and columns, and its
///   diagonals, and nothing else);
/// - the shapes do not change (N1 x N2, N1 and N2 entries);
/// - set `hasCentredGaussianUnits` to say whether your outputs are centred Gaussian units (as a
///   Dense layer's are; the next LayerNorm or nonlinearity reads it), and append your layer's name
///   to `layers` (error messages name the previous layer);
/// - the map may run on several threads at once, on different tiles: read nothing but the kernel
///   and your layer's constants.
public struct InfiniteWidthKernel: Sendable {
    /// `K(x1_i, x2_j)`, N1 x N2.
    public internal(set) var nngp: Tensor<Double>
    /// `Theta(x1_i, x2_j)`, N1 x N2.
    public internal(set) var ntk: Tensor<Double>
    /// `K(x1_i, x1_i)`, N1 entries.
    public internal(set) var nngpDiagonal1: Tensor<Double>
    /// `K(x2_j, x2_j)`, N2 entries.
    public internal(set) var nngpDiagonal2: Tensor<Double>
    /// `Theta(x1_i, x1_i)`, N1 entries.
    public internal(set) var ntkDiagonal1: Tensor<Double>
    /// `Theta(x2_j, x2_j)`, N2 entries.
    public internal(set) var ntkDiagonal2: Tensor<Double>
    /// Whether the current outputs are independent centred Gaussian processes across units, as
    /// right after a Dense layer (or a LayerNorm that follows one). Nonlinearities and LayerNorm
    /// have closed-form maps only for such inputs; a layer's map sets it for its outputs.
    public var hasCentredGaussianUnits: Bool
    /// The layers mapped so far, by name ("Dense", "LayerNorm", "ReLU", ...), for error messages;
    /// a layer's map appends its own.
    public var layers: [String]

    /// The number of points in the first set (rows of `nngp`).
    public var count1: Int { nngp.shape[0] }
    /// The number of points in the second set (columns of `nngp`).
    public var count2: Int { nngp.shape[1] }

    /// The kernels of the inputs themselves: `K = x1 · x2ᵀ / d` (one GEMM), `Theta = 0`.
    /// - Parameters:
    ///   - x1: N1 points, one a row, d features.
    ///   - x2: N2 points of the same d features; nil means x1 (then `nngp` is exactly symmetric and
    ///     its diagonal equals `nngpDiagonal1`).
    public init<Scalar: BLASScalar>(_ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil) {
        precondition(x1.rank == 2, "InfiniteWidthKernel: x1 must be a matrix [points, features], got \(x1.shape)")
        if let x2 {
            precondition(x2.rank == 2 && x2.shape[1] == x1.shape[1],
                         "InfiniteWidthKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape); the features must agree")
        }
        let first = x1.converted(to: Double.self)
        let second = x2?.converted(to: Double.self)
        let features = Double(max(first.shape[1], 1))
        var kernel = matmul(first, second ?? first, transposeB: true)
        kernel.scale(by: 1 / features)
        let diagonal1 = Self.inputDiagonal(first)
        let diagonal2 = second.map { Self.inputDiagonal($0) } ?? diagonal1
        if second == nil {
            // The GEMM's diagonal may differ from the sum of squares in the last bit; make them agree,
            // so that each point's correlation with itself is exactly 1.
            kernel.withUnsafeMutableBufferPointer { k in
                diagonal1.withUnsafeBufferPointer { d in
                    for i in 0..<d.count { k[i &* d.count &+ i] = d[i] }
                }
            }
        }
        self.init(inputKernel: kernel, diagonal1: diagonal1, diagonal2: diagonal2)
    }

    /// A kernel whose inputs have the given NNGP kernel and diagonals and a zero NTK: for a custom
    /// input kernel, or a block of a larger one.
    /// - Parameters:
    ///   - inputKernel: `K(x1_i, x2_j)`, N1 x N2.
    ///   - diagonal1: `K(x1_i, x1_i)`, N1 entries; `diagonal2`: `K(x2_j, x2_j)`, N2 entries.
    public init(inputKernel: Tensor<Double>, diagonal1: Tensor<Double>, diagonal2: Tensor<Double>) {
        precondition(inputKernel.rank == 2, "InfiniteWidthKernel: the input kernel must be a matrix, got \(inputKernel.shape)")
        precondition(diagonal1.count == inputKernel.shape[0] && diagonal2.count == inputKernel.shape[1],
                     "InfiniteWidthKernel: diagonals of \(diagonal1.count) and \(diagonal2.count) entries for a kernel of shape \(inputKernel.shape)")
        nngp = inputKernel
        ntk = Tensor(shape: inputKernel.shape, repeating: 0)
        nngpDiagonal1 = diagonal1.reshaped([diagonal1.count])
        nngpDiagonal2 = diagonal2.reshaped([diagonal2.count])
        ntkDiagonal1 = Tensor(shape: [diagonal1.count], repeating: 0)
        ntkDiagonal2 = Tensor(shape: [diagonal2.count], repeating: 0)
        hasCentredGaussianUnits = false
        layers = []
    }

    /// A kernel assembled from its parts, for code that maps blocks of a kernel separately and
    /// puts the results together (as `TangentKernels` does with its tiles).
    public init(
        nngp: Tensor<Double>, ntk: Tensor<Double>, nngpDiagonal1: Tensor<Double>, nngpDiagonal2: Tensor<Double>,
        ntkDiagonal1: Tensor<Double>, ntkDiagonal2: Tensor<Double>, hasCentredGaussianUnits: Bool, layers: [String]
    ) {
        precondition(nngp.rank == 2 && ntk.shape == nngp.shape,
                     "InfiniteWidthKernel: nngp has shape \(nngp.shape) but ntk has shape \(ntk.shape)")
        precondition(nngpDiagonal1.count == nngp.shape[0] && ntkDiagonal1.count == nngp.shape[0]
                     && nngpDiagonal2.count == nngp.shape[1] && ntkDiagonal2.count == nngp.shape[1],
                     "InfiniteWidthKernel: diagonals do not match a kernel of shape \(nngp.shape)")
        self.nngp = nngp
        self.ntk = ntk
        self.nngpDiagonal1 = nngpDiagonal1
        self.nngpDiagonal2 = nngpDiagonal2
        self.ntkDiagonal1 = ntkDiagonal1
        self.ntkDiagonal2 = ntkDiagonal2
        self.hasCentredGaussianUnits = hasCentredGaussianUnits
        self.layers = layers
    }

    /// `|x_i|^2 / d` for each row: the input kernel's diagonal.
    public static func inputDiagonal<Scalar: BLASScalar>(_ x: Tensor<Scalar>) -> Tensor<Double> {
        precondition(x.rank == 2, "inputDiagonal: expected a matrix [points, features], got \(x.shape)")
        let (rows, features) = (x.shape[0], x.shape[1])
        var diagonal = Tensor<Double>(uninitializedShape: [rows])
        x.withUnsafeBufferPointer { source in
            diagonal.withUnsafeMutableBufferPointer { target in
                for i in 0..<rows {
                    var sum = 0.0
                    for j in 0..<features {
                        let value = Double(source[i &* features &+ j])
                        sum += value * value
                    }
                    target[i] = sum / Double(max(features, 1))
                }
            }
        }
        return diagonal
    }

    /// Throws unless the current outputs are centred Gaussian units, which a nonlinearity's map
    /// (named `layer`) needs: its pre-activations must come from a Dense layer (or a LayerNorm after one).
    func requireCentredGaussianUnits(before layer: String) throws {
        guard hasCentredGaussianUnits else {
            throw InfiniteWidthKernelError(
                layer: "\(layer) after \(previousLayer)",
                reason: "its map needs centred Gaussian pre-activations, the outputs of a Dense layer "
                    + "(or of a LayerNorm after one)")
        }
    }

    /// The name of the last layer mapped, or "the inputs".
    public var previousLayer: String { layers.last ?? "the inputs" }

    /// Runs `body` on the six buffers for writing: the cross NNGP and NTK (`count1 x count2`,
    /// row-major), the NNGP diagonals (`count1`, `count2` entries) and the NTK diagonals. A layer's
    /// map changes them in place, keeping the invariants in the type's documentation.
    public mutating func withMutableBuffers<R>(
        _ body: (_ nngp: UnsafeMutablePointer<Double>, _ ntk: UnsafeMutablePointer<Double>,
                 _ nngpDiagonal1: UnsafeMutablePointer<Double>, _ nngpDiagonal2: UnsafeMutablePointer<Double>,
                 _ ntkDiagonal1: UnsafeMutablePointer<Double>, _ ntkDiagonal2: UnsafeMutablePointer<Double>) throws -> R
    ) rethrows -> R {
        try body(nngp.unsafeMutableBaseAddress(), ntk.unsafeMutableBaseAddress(),
                 nngpDiagonal1.unsafeMutableBaseAddress(), nngpDiagonal2.unsafeMutableBaseAddress(),
                 ntkDiagonal1.unsafeMutableBaseAddress(), ntkDiagonal2.unsafeMutableBaseAddress())
    }
}

/// A layer without a closed-form infinite-width kernel map, or in a place where its map does not
/// apply; the message says why and what is supported.
public struct InfiniteWidthKernelError: Error, CustomStringConvertible, Equatable {
    /// The layer, as a type name ("Tanh<Double>") or a description.
    public let layer: String
    /// Why there is no map.
    public let reason: String

    public init(layer: String, reason: String) {
        self.layer = layer
        self.reason = reason
    }

    /// What has a map (closed-form for the activations with `Activation.hasAnalyticKernelMap`,
    /// quadrature for the others).
    public static let supported = "Dense in the NTK parameterization (Dense(ntk:...)), every Activation ("
        + Activation.allCases.filter(\.hasAnalyticKernelMap).map(\.layerName).joined(separator: ", ")
        + " in closed form, the others by quadrature) after a Dense (or after a LayerNorm that follows one), LayerNorm without affine parameters after a Dense, "
        + "RMSNorm without affine parameters anywhere, Residual blocks whose inner block ends with a Dense, "
        + "Sequential compositions of these, and layers of your own that implement kernelMap(_:)"

    public var description: String {
        "\(layer) has no infinite-width kernel map: \(reason). Supported: \(Self.supported)."
    }
}

// MARK: - Eight Float64 lanes, the kernel maps' unit of work

/// The kernel maps run over eight Float64 values at a time. Swift lowers `SIMD8<Double>`
/// arithmetic to vector instructions (four SSE2 operations on x86-64) when the code is concrete,
/// not generic; a generic version measured 10x slower. Square roots go through `sqrtpd`:
/// `Double.squareRoot()` on Linux carries an errno check that stops the loop from vectorising.
///
/// The lane functions are `@_transparent`, which inlines them unconditionally: with
/// `@inline(__always)` the optimizer left them as calls (their SIMD8 bodies are many SIL blocks,
/// past the inliner's caller-size limit), passing the lanes through memory, 2.5x slower.
typealias KernelLanes = SIMD8<Double>

@_transparent
func squareRoots(_ x: KernelLanes) -> KernelLanes {
#if arch(x86_64)
    KernelLanes(
        lowHalf: SIMD4(lowHalf: _mm_sqrt_pd(x.lowHalf.lowHalf), highHalf: _mm_sqrt_pd(x.lowHalf.highHalf)),
        highHalf: SIMD4(lowHalf: _mm_sqrt_pd(x.highHalf.lowHalf), highHalf: _mm_sqrt_pd(x.highHalf.highHalf)))
#else
    var result = x
    for lane in 0..<KernelLanes.scalarCount { result[lane] = x[lane].squareRoot() }
    return result
#endif
}

/// `count` (at most 8) values from `source`, the other lanes set to `padding`.
@_transparent
func loadLanes(_ source: UnsafePointer<Double>, count: Int, padding: Double) -> KernelLanes {
    if count == KernelLanes.scalarCount { return UnsafeRawPointer(source).loadUnaligned(as: KernelLanes.self) }
    var lanes = KernelLanes(repeating: padding)
    for lane in 0..<count { lanes[lane] = source[lane] }
    return lanes
}

/// Writes the first `count` (at most 8) lanes to `target`.
@_transparent
func storeLanes(_ lanes: KernelLanes, _ target: UnsafeMutablePointer<Double>, count: Int) {
    if count == KernelLanes.scalarCount {
        UnsafeMutableRawPointer(target).storeBytes(of: lanes, as: KernelLanes.self)
        return
    }
    for lane in 0..<count { target[lane] = lanes[lane] }
}

/// The core of arcsin and arccos for each lane of x in [-1, 1], by the method of fdlibm's
/// e_asin.c and e_acos.c (Sun Microsystems, 1993), with its rational approximation
/// `asin(s) = s + s R(s^2)` on [-0.5, 0.5]:
/// - where |x| <= 0.5 (`small`): w = asin x, computed as x + x R(x^2);
/// - elsewhere: w = asin(sqrt(z)) with z = (1 - |x|) / 2, so that acos |x| = 2 w,
///   asin |x| = pi/2 - 2 w and acos(-|x|) = pi - 2 w.
/// Absolute error below 1e-15 in the arcsin or arccos built from it (measured against glibc:
/// 4.4e-16). One square root and one division.
@_transparent
func arcsineCore(_ x: KernelLanes) -> (w: KernelLanes, small: SIMDMask<SIMD8<Int64>>) {
    let magnitude = x.replacing(with: -x, where: x .< 0)
    let small = magnitude .<= 0.5
    let z = ((1 - magnitude) * 0.5).replacing(with: x * x, where: small)
    let s = squareRoots(z).replacing(with: x, where: small)
    // R(z) = p(z) / q(z), fdlibm's coefficients pS0...pS5, qS1...qS4.
    var p = z * 3.47933107596021167570e-05 + 7.91534994289814532176e-04
    p = p * z - 4.00555345006794114027e-02
    p = p * z + 2.01212532134862925881e-01
    p = p * z - 3.25565818622400915405e-01
    p = p * z + 1.66666666666666657415e-01
    p = p * z
    var q = z * 7.70381505559019352791e-02 - 6.88283971605453293030e-01
    q = q * z + 2.02094576023350569471e+00
    q = q * z - 2.40339491173441421878e+00
    q = q * z + 1
    return (s + s * (p / q), small)
}

/// arcsin x for each lane of x in [-1, 1] (see `arcsineCore`).
@_transparent
func arcsines(_ x: KernelLanes) -> KernelLanes {
    let (w, small) = arcsineCore(x)
    // |x| > 0.5: asin x = sign(x) (pi/2 - 2 w).
    let large = Double.pi / 2 - (w + w)
    return w.replacing(with: large.replacing(with: -large, where: x .< 0), where: .!small)
}

/// pi - arccos x = arccos(-x) for each lane of x in [-1, 1] (see `arcsineCore`), accurate also
/// where it is small (x near -1).
@_transparent
func piMinusArccosines(_ x: KernelLanes) -> KernelLanes {
    let (w, small) = arcsineCore(x)
    // |x| <= 0.5: pi/2 + asin x; x > 0.5: pi - acos x = pi - 2 w; x < -0.5: pi - (pi - 2 w) = 2 w.
    let twiceW = w + w
    let large = (Double.pi - twiceW).replacing(with: twiceW, where: x .< 0)
    return (Double.pi / 2 + w).replacing(with: large, where: .!small)
}
