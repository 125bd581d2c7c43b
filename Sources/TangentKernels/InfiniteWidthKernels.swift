import Dispatch
import Glibc
import NeuralNet

/// The infinite-width NNGP and NTK kernels of a network, computed tile by tile.
///
/// Every layer's kernel map changes the cross entries one by one from the diagonals, so the
/// kernels of a tile of x1 rows against x2 columns can go through the whole network while the
/// tile sits in cache (32 x 512 entries, 256 KiB for both kernels), and only the results travel to
/// memory. Mapping whole N x N matrices layer after layer would stream them through memory twice
/// per layer. The input kernel comes from one GEMM. Without x2, only the lower triangle is mapped
/// and mirrored, so the result is exactly symmetric.
extension Layer {
    /// The infinite-width NNGP kernel and NTK of this network's output between the rows of `x1`
    /// and those of `x2`, with the diagonals of each set.
    ///
    /// The network must be built from layers with closed-form maps (see
    /// `InfiniteWidthKernelError.supported`): Dense in the NTK parameterization, ReLU or exact GELU,
    /// LayerNorm without affine parameters after a Dense. The layers' widths and parameter values
    /// do not matter. Computed in Float64 whatever `Scalar` is.
    /// - Parameters:
    ///   - x1: N1 points, one a row.
    ///   - x2: N2 points with the same features; nil means x1 (then only one triangle is computed
    ///     and the kernels are exactly symmetric).
    ///   - threads: tiles are spread over this many threads; by default as many as BLAS uses
    ///     (`BLASRuntime.threadCount`), so `OPENBLAS_NUM_THREADS=1` makes the whole call serial.
    /// - Throws: `InfiniteWidthKernelError` naming the first layer without a closed-form map,
    ///   before any heavy work.
    public func infiniteWidthKernel(
        _ x1: Tensor<Scalar>, _ x2: Tensor<Scalar>? = nil, threads: Int = BLASRuntime.threadCount
    ) throws -> InfiniteWidthKernel {
        precondition(x1.rank == 2 && x1.shape[1] > 0, "infiniteWidthKernel: x1 must be a matrix [points, features], got \(x1.shape)")
        if let x2 {
            precondition(x2.rank == 2 && x2.shape[1] == x1.shape[1],
                         "infiniteWidthKernel: x1 has shape \(x1.shape) but x2 has shape \(x2.shape); the features must agree")
        }
        // Run the maps once on a 1 x 1 kernel: unsupported layers throw here, and the result tells
        // which layers were mapped.
        var probe = InfiniteWidthKernel(
            inputKernel: Tensor(shape: [1, 1], repeating: 1), diagonal1: .ones([1]), diagonal2: .ones([1]))
        try kernelMap(&probe)

        let first = x1.converted(to: Double.self)
        let second = x2?.converted(to: Double.self)
        let symmetric = second == nil
        let (rows, columns, features) = (first.shape[0], second?.shape[0] ?? first.shape[0], first.shape[1])
        let inputDiagonal1 = InfiniteWidthKernel.inputDiagonal(first)
        let inputDiagonal2 = second.map { InfiniteWidthKernel.inputDiagonal($0) } ?? inputDiagonal1

        // The input kernel x1 x2ᵀ / d, in the buffer that will hold the NNGP kernel.
        var nngp = Tensor<Double>(uninitializedShape: [rows, columns])
        var ntk = Tensor<Double>(uninitializedShape: [rows, columns])
        adviseHugePages(&nngp)
        adviseHugePages(&ntk)
        matmul(first.unsafeBaseAddress, (second ?? first).unsafeBaseAddress, nngp.unsafeMutableBaseAddress(),
               m: rows, n: columns, k: features, transposeA: false, transposeB: true, alpha: 1 / Double(features))
        var diagonal1 = Tensor<Double>(uninitializedShape: [rows]), ntkDiagonal1 = Tensor<Double>(uninitializedShape: [rows])
        var diagonal2 = Tensor<Double>(uninitializedShape: [columns]), ntkDiagonal2 = Tensor<Double>(uninitializedShape: [columns])

        let plan = KernelTilePlan(rows: rows, columns: columns, symmetric: symmetric)
        nonisolated(unsafe) let output = KernelTileOutput(
            nngp: nngp.unsafeMutableBaseAddress(), ntk: ntk.unsafeMutableBaseAddress(),
            nngpDiagonal1: diagonal1.unsafeMutableBaseAddress(), ntkDiagonal1: ntkDiagonal1.unsafeMutableBaseAddress(),
            nngpDiagonal2: diagonal2.unsafeMutableBaseAddress(), ntkDiagonal2: ntkDiagonal2.unsafeMutableBaseAddress(),
            inputDiagonal1: inputDiagonal1.unsafeBaseAddress, inputDiagonal2: inputDiagonal2.unsafeBaseAddress)
        // The layers' kernel maps only read their configuration (sigma_w, sigma_b, epsilon), and
        // each thread maps its own tiles into disjoint entries of the output, so sharing the
        // network and the output pointers across threads is safe (`Layer.kernelMap` documents
        // that it may be called concurrently on different kernels).
        nonisolated(unsafe) let kernelMap: (inout InfiniteWidthKernel) throws -> Void = { try self.kernelMap(&$0) }
        let workers = max(1, min(threads, plan.rowBlocks))
        let errors = ErrorSlot()
        withExtendedLifetime((nngp, ntk, diagonal1, diagonal2, ntkDiagonal1, ntkDiagonal2, inputDiagonal1, inputDiagonal2)) {
            // Worker w takes row blocks w, w + workers, ...: interleaved, so that the triangle's
            // growing rows spread evenly.
            let work: @Sendable (Int) -> Void = { worker in
                do {
                    for block in stride(from: worker, to: plan.rowBlocks, by: workers) {
                        try plan.mapRowBlock(block, through: kernelMap, output)
                    }
                } catch { errors.record(error) }
            }
            if workers == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: work) }
        }
        let firstError = errors.first
        if let firstError { throw firstError }
        if symmetric {
            diagonal2 = diagonal1
            ntkDiagonal2 = ntkDiagonal1
        }
        return InfiniteWidthKernel(
            nngp: nngp, ntk: ntk, nngpDiagonal1: diagonal1, nngpDiagonal2: diagonal2,
            ntkDiagonal1: ntkDiagonal1, ntkDiagonal2: ntkDiagonal2,
            hasCentredGaussianUnits: probe.hasCentredGaussianUnits, layers: probe.layers)
    }
}

/// The first error thrown by any tile (tiles map the same layers, so they all fail alike).
/// `@unchecked Sendable`: the one mutable field is guarded by the lock.
private final class ErrorSlot: @unchecked Sendable {
    private let lock = DispatchQueue(label: "TangentKernels.ErrorSlot")
    private var stored: Error?
    func record(_ error: Error) { lock.sync { if stored == nil { stored = error } } }
    var first: Error? { lock.sync { stored } }
}

/// Where the tiles read the input kernel and write their results: the NNGP buffer holds the input
/// kernel on entry and the mapped kernel on exit, entry by entry. Tiles write disjoint entries.
private struct KernelTileOutput {
    let nngp: UnsafeMutablePointer<Double>, ntk: UnsafeMutablePointer<Double>
    let nngpDiagonal1: UnsafeMutablePointer<Double>, ntkDiagonal1: UnsafeMutablePointer<Double>
    let nngpDiagonal2: UnsafeMutablePointer<Double>, ntkDiagonal2: UnsafeMutablePointer<Double>
    let inputDiagonal1: UnsafePointer<Double>, inputDiagonal2: UnsafePointer<Double>
}

/// How the rows x columns kernel is cut: blocks of `tileRows` rows, each cut into tiles of
/// `tileColumns` columns; without x2 only the tiles touching the lower triangle.
private struct KernelTilePlan {
    /// 32 x 512 entries: both kernels of a tile (256 KiB) stay in a core's L2 cache across layers,
    /// and the per-tile work on the diagonals (32 + 512 entries a layer) is 3% of the tile's.
    static let tileRows = 32, tileColumns = 512

    let rows: Int, columns: Int, symmetric: Bool
    var rowBlocks: Int { (rows + Self.tileRows - 1) / Self.tileRows }

    /// Maps every tile of one block of rows through the network's `kernelMap`, in order of columns.
    func mapRowBlock(_ block: Int, through kernelMap: (inout InfiniteWidthKernel) throws -> Void, _ output: KernelTileOutput) throws {
        let rowStart = block * Self.tileRows
        let rowEnd = min(rowStart + Self.tileRows, rows)
        // Without x2, row i needs columns 0...i only.
        let columnLimit = symmetric ? rowEnd : columns
        var columnStart = 0
        while columnStart < columnLimit {
            let columnEnd = min(columnStart + Self.tileColumns, columnLimit)
            try mapTile(rows: rowStart..<rowEnd, columns: columnStart..<columnEnd, through: kernelMap, output)
            columnStart = columnEnd
        }
    }

    func mapTile(
        rows tileRows: Range<Int>, columns tileColumns: Range<Int>,
        through kernelMap: (inout InfiniteWidthKernel) throws -> Void, _ output: KernelTileOutput
    ) throws {
        let (height, width) = (tileRows.count, tileColumns.count)
        let (rowStart, columnStart) = (tileRows.lowerBound, tileColumns.lowerBound)
        // The tile's input kernel. Without x2, entries above the diagonal are neither read nor
        // kept (another tile's mirror writes land there): they start at 0 and are dropped.
        var input = Tensor<Double>(shape: [height, width], repeating: 0)
        let tileInput = input.unsafeMutableBaseAddress()
        for r in 0..<height {
            let i = rowStart &+ r
            let kept = keptColumns(row: i, tileColumns)
            guard kept > 0 else { continue }
            (tileInput + r &* width).update(from: output.nngp + (i &* columns &+ columnStart), count: kept)
            if symmetric && columnStart &+ kept == i &+ 1 {
                // A point against itself: exactly its diagonal entry, so its correlation is 1.
                tileInput[r &* width &+ kept &- 1] = output.inputDiagonal1[i]
            }
        }
        var tile = InfiniteWidthKernel(
            inputKernel: consume input,
            diagonal1: Tensor(shape: [height], scalars: Array(UnsafeBufferPointer(start: output.inputDiagonal1 + rowStart, count: height))),
            diagonal2: Tensor(shape: [width], scalars: Array(UnsafeBufferPointer(start: output.inputDiagonal2 + columnStart, count: width))))
        try kernelMap(&tile)

        let (k, theta) = (tile.nngp.unsafeBaseAddress, tile.ntk.unsafeBaseAddress)
        for r in 0..<height {
            let i = rowStart &+ r
            let kept = keptColumns(row: i, tileColumns)
            (output.nngp + (i &* columns &+ columnStart)).update(from: k + r &* width, count: kept)
            (output.ntk + (i &* columns &+ columnStart)).update(from: theta + r &* width, count: kept)
        }
        if symmetric {
            // Mirror: entry (i, j) with j < i also goes to (j, i). Eight columns at a time: gather
            // them from the tile's rows (one cache line per row) into a small transposed block,
            // then write each of the eight target rows as one contiguous run.
            let block = 8
            var transposed = [Double](repeating: 0, count: 2 * block * height)
            transposed.withUnsafeMutableBufferPointer { buffer in
                let (transposedK, transposedTheta) = (buffer.baseAddress!, buffer.baseAddress! + block * height)
                for c0 in stride(from: 0, to: width, by: block) {
                    let c1 = min(c0 &+ block, width)
                    // Rows of the tile strictly below the diagonal for column c0 start here.
                    let firstRow = max(0, columnStart &+ c0 &+ 1 &- rowStart)
                    guard firstRow < height else { continue }
                    for r in firstRow..<height {
                        let (sourceK, sourceTheta) = (k + r &* width, theta + r &* width)
                        for c in c0..<c1 {
                            transposedK[(c &- c0) &* height &+ r] = sourceK[c]
                            transposedTheta[(c &- c0) &* height &+ r] = sourceTheta[c]
                        }
                    }
                    for c in c0..<c1 {
                        let j = columnStart &+ c
                        // Tile rows i > j, that is r > j - rowStart.
                        let first = max(0, j &+ 1 &- rowStart)
                        guard first < height else { continue }
                        let target = j &* columns &+ rowStart &+ first
                        (output.nngp + target).update(from: transposedK + ((c &- c0) &* height &+ first), count: height &- first)
                        (output.ntk + target).update(from: transposedTheta + ((c &- c0) &* height &+ first), count: height &- first)
                    }
                }
            }
        }
        if columnStart == 0 {
            for r in 0..<height {
                output.nngpDiagonal1[rowStart &+ r] = tile.nngpDiagonal1.unsafeBaseAddress[r]
                output.ntkDiagonal1[rowStart &+ r] = tile.ntkDiagonal1.unsafeBaseAddress[r]
            }
        }
        if !symmetric && rowStart == 0 {
            for c in 0..<width {
                output.nngpDiagonal2[columnStart &+ c] = tile.nngpDiagonal2.unsafeBaseAddress[c]
                output.ntkDiagonal2[columnStart &+ c] = tile.ntkDiagonal2.unsafeBaseAddress[c]
            }
        }
        withExtendedLifetime(tile) {}
    }

    /// How many leading columns of the tile row `i` keeps: all of them, or without x2 those up to
    /// and including the diagonal.
    func keptColumns(row i: Int, _ tileColumns: Range<Int>) -> Int {
        symmetric ? max(0, min(tileColumns.upperBound, i + 1) - tileColumns.lowerBound) : tileColumns.count
    }
}

/// Asks Linux to back a large tensor with 2 MiB pages (`madvise(MADV_HUGEPAGE)`), before anything
/// touches it. For an N = 4096 kernel (128 MiB per matrix) this replaces 65536 page faults per
/// matrix with 64, and lets the mirror's writes to far-apart rows hit the TLB. Only the whole
/// 2 MiB pages inside the buffer are advised; where transparent huge pages are off, or on other
/// systems, nothing changes.
func adviseHugePages(_ tensor: inout Tensor<Double>) {
#if os(Linux)
    let hugePage = 2 << 20
    let start = UInt(bitPattern: tensor.unsafeMutableBaseAddress())
    let end = start + UInt(tensor.count * MemoryLayout<Double>.stride)
    let alignedStart = (start + UInt(hugePage - 1)) & ~UInt(hugePage - 1)
    let alignedEnd = end & ~UInt(hugePage - 1)
    guard alignedEnd > alignedStart, let pointer = UnsafeMutableRawPointer(bitPattern: alignedStart) else { return }
    _ = madvise(pointer, Int(alignedEnd - alignedStart), MADV_HUGEPAGE)
#endif
}
