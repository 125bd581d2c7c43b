import Tensors

/// A naive triple-loop product, the oracle for GEMM: C = op(A) op(B).
func naiveProduct<S: BLASScalar>(_ a: Tensor<S>, _ b: Tensor<S>, transposeA: Bool, transposeB: Bool) -> [[Double]] {
    let av = a.array2D, bv = b.array2D
    let m = transposeA ? a.shape[1] : a.shape[0]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let n = transposeB ? b.shape[0] : b.shape[1]
    var c = [[Double]](repeating: [Double](repeating: 0, count: n), count: m)
    for i in 0..<m {
        for j in 0..<n {
            var total = 0.0
            for p in 0..<k {
                let x = transposeA ? av[p][i] : av[i][p]
                let y = transposeB ? bv[j][p] : bv[p][j]
                total += Double(x) * Double(y)
            }
            c[i][j] = total
        }
    }
    return c
}
