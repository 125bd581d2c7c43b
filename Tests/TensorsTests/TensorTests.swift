import Testing
@testable import Tensors
import TestSupport

@Suite struct GEMMTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let m: Int, k: Int, n: Int
        var testDescription: String { "\(m)x\(k) by \(k)x\(n)" }
    }
    static let cases: [Case] = [
        Case(m: 1, k: 1, n: 1), Case(m: 3, k: 7, n: 5), Case(m: 17, k: 1, n: 9), Case(m: 16, k: 16, n: 16),
        Case(m: 33, k: 65, n: 31), Case(m: 1, k: 12, n: 7), Case(m: 8, k: 12, n: 1), Case(m: 64, k: 3, n: 2),
    ]

    func check<S: BLASScalar>(_ type: S.Type, _ shape: Case, tolerance: Double) {
        var generator = Xoshiro256StarStar(seed: UInt64(shape.m * 1000 + shape.k * 10 + shape.n))
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = Tensor<S>.randomNormal(transposeA ? [shape.k, shape.m] : [shape.m, shape.k], using: &generator)
                let b = Tensor<S>.randomNormal(transposeB ? [shape.n, shape.k] : [shape.k, shape.n], using: &generator)
                let c = matmul(a, b, transposeA: transposeA, transposeB: transposeB)
                #expect(c.shape == [shape.m, shape.n])
                let expected = naiveProduct(a, b, transposeA: transposeA, transposeB: transposeB)
                let error = maxRelativeError(c.scalars.map(Double.init), expected.flatMap { $0 })
                #expect(error < tolerance, "transposeA \(transposeA) transposeB \(transposeB): error \(error)")
            }
        }
    }

    @Test(arguments: cases) func floatMatchesNaiveLoop(_ shape: Case) { check(Float.self, shape, tolerance: 1e-5) }
    @Test(arguments: cases) func doubleMatchesNaiveLoop(_ shape: Case) { check(Double.self, shape, tolerance: 1e-13) }

    @Test func accumulatesIntoPreallocatedResult() {
        let a = Tensor<Double>([[1, 2], [3, 4]])
        let b = Tensor<Double>([[5, 6], [7, 8]])
        var c = Tensor<Double>([[1, 1], [1, 1]])
        matmul(a, b, alpha: 2, beta: 1, into: &c)
        // 2 * [[19, 22], [43, 50]] + 1
        #expect(c == Tensor([[39, 45], [87, 101]]))
    }

    @Test func emptyInnerDimensionGivesZeros() {
        let a = Tensor<Double>.zeros([3, 0]), b = Tensor<Double>.zeros([0, 2])
        #expect(matmul(a, b) == Tensor.zeros([3, 2]))
    }
}

@Suite struct ElementwiseTests {
    let a = Tensor<Double>([[1, -2, 3], [4, 5, -6]])
    let b = Tensor<Double>([[2, 2, -1], [0.5, -1, 3]])

    @Test func arithmetic() {
        #expect((a + b) == Tensor([[3, 0, 2], [4.5, 4, -3]]))
        #expect((a - b) == Tensor([[-1, -4, 4], [3.5, 6, -9]]))
        #expect((a * b) == Tensor([[2, -4, -3], [2, -5, -18]]))
        #expect((a / b) == Tensor([[0.5, -1, -3], [8, -5, -2]]))
        #expect((2 * a) == Tensor([[2, -4, 6], [8, 10, -12]]))
        var c = a
        c.add(b, scaledBy: -2)
        #expect(c == Tensor([[-3, -6, 5], [3, 7, -12]]))
    }

    @Test func rowVectorMapAndTranspose() {
        let row = Tensor<Double>(shape: [3], scalars: [10, 20, 30])
        #expect(a.addingRowVector(row) == Tensor([[11, 18, 33], [14, 25, 24]]))
        #expect(a.map { $0 * $0 } == Tensor([[1, 4, 9], [16, 25, 36]]))
        #expect(a.transposed() == Tensor([[1, 4], [-2, 5], [3, -6]]))
        var generator = Xoshiro256StarStar(seed: 3)
        let big = Tensor<Float>.randomNormal([37, 70], using: &generator)
        #expect(big.transposed().transposed() == big)
        #expect(big.transposed()[5, 36] == big[36, 5])
    }

    @Test func reductions() {
        #expect(a.sum() == 5)
        #expect(a.mean() == 5.0 / 6)
        #expect(a.maxAbs() == 6)
        #expect(a.sum(alongAxis: 0).scalars == [5, 3, -3])
        #expect(a.sum(alongAxis: 1).scalars == [2, 3])
        #expect(a.mean(alongAxis: 0).scalars == [2.5, 1.5, -1.5])
        #expect(a.mean(alongAxis: 1).scalars == [2.0 / 3, 1])
        #expect(Tensor<Float>(shape: [2], scalars: [1, .nan]).maxAbs().isNaN)
    }

    @Test func creation() {
        #expect(Tensor<Float>.identity(3).scalars == [1, 0, 0, 0, 1, 0, 0, 0, 1])
        #expect(Tensor<Double>.ones([2, 2]).sum() == 4)
        #expect(Tensor<Double>.filled([2, 3], with: 1.5).scalars == Array(repeating: 1.5, count: 6))
        #expect(Tensor<Double>.zeros([4]).shape == [4])
    }

    @Test func copyOnWrite() {
        let original = Tensor<Double>([[1, 2], [3, 4]])
        var copy = original
        copy[0, 1] = 99
        #expect(original[0, 1] == 2)
        #expect(copy[0, 1] == 99)
        var scaled = original
        scaled.scale(by: 3)
        #expect(original == Tensor([[1, 2], [3, 4]]))
        let view = original.reshaped([4])
        var mutatedView = view
        mutatedView[0] = -1
        #expect(original[0, 0] == 1)
    }

    @Test func convertsPrecision() {
        let d = Tensor<Double>([[0.5, 1.25]])
        #expect(d.converted(to: Float.self).scalars == [0.5, 1.25])
    }
}

@Suite struct CholeskyTests {
    @Test func solvesRandomSPDSystem() throws {
        var generator = Xoshiro256StarStar(seed: 42)
        let n = 200
        let g = Tensor<Double>.randomNormal([n, n], using: &generator)
        // G Gᵀ + n I is symmetric positive definite and well conditioned.
        let a = matmul(g, g, transposeB: true) + Tensor.identity(n).scaled(by: Double(n))
        let b = Tensor<Double>.randomNormal([n, 3], using: &generator)
        let x = try a.choleskySolve(b)
        let residual = (matmul(a, x) - b).maxAbs() / b.maxAbs()
        #expect(residual < 1e-10)
        let factor = try CholeskyFactor(a)
        #expect((matmul(factor.lower, factor.lower, transposeB: true) - a).maxAbs() < 1e-9 * a.maxAbs())
    }

    @Test func floatSolve() throws {
        let a = Tensor<Float>([[4, 2], [2, 3]])
        let x = try a.choleskySolve(Tensor(shape: [2], scalars: [2, 1]))
        // Exact solution: [0.5, 0].
        #expect(abs(x[0] - 0.5) < 1e-6 && abs(x[1]) < 1e-6)
    }

    @Test func nonPositiveDefiniteNamesTheMinor() {
        // The leading 2x2 minor [[1, 2], [2, 1]] has determinant -3.
        let a = Tensor<Double>([[1, 2, 0], [2, 1, 0], [0, 0, 1]])
        #expect(throws: LinearAlgebraError.notPositiveDefinite(leadingMinor: 2, size: 3)) {
            try CholeskyFactor(a)
        }
        let message = "\(LinearAlgebraError.notPositiveDefinite(leadingMinor: 2, size: 3))"
        #expect(message.contains("not positive definite") && message.contains("order 2"))
    }
}

@Suite struct RandomTests {
    @Test func splitMix64MatchesReferenceOutputs() {
        // Vigna's splitmix64.c seeded with 1234567.
        var generator = SplitMix64(seed: 1234567)
        let expected: [UInt64] = [6457827717110365317, 3203168211198807973, 9817491932198370423,
                                  4593380528125082431, 16408922859458223821]
        #expect((0..<5).map { _ in generator.next() } == expected)
    }

    @Test func xoshiroMatchesReferenceOutputs() {
        // The reference xoshiro256starstar.c from the state {1, 2, 3, 4}.
        var generator = Xoshiro256StarStar(state: (1, 2, 3, 4))
        let expected: [UInt64] = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
                                  607988272756665600, 16172922978634559625, 8476171486693032832,
                                  10595114339597558777, 2904607092377533576]
        #expect((0..<10).map { _ in generator.next() } == expected)
    }

    @Test func normalMomentsWithinThreeStandardErrors() {
        var generator = Xoshiro256StarStar(seed: 7)
        let n = 1_000_000
        let samples = Tensor<Double>.randomNormal([n], using: &generator)
        let mean = samples.mean()
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.sum() / Double(n - 1)
        // Standard errors: of the mean 1/sqrt(n); of the variance sqrt(2/(n-1)) for normals.
        #expect(abs(mean) < 3 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 3 * (2 / Double(n - 1)).squareRoot())
    }

    @Test func uniformRangeAndSeedDeterminism() {
        var g1 = Xoshiro256StarStar(seed: 9), g2 = Xoshiro256StarStar(seed: 9)
        let u = Tensor<Float>.randomUniform([10000], low: -2, high: 3, using: &g1)
        #expect(u.scalars.allSatisfy { $0 >= -2 && $0 < 3 })
        #expect(abs(u.mean() - 0.5) < 0.05)
        #expect(Tensor<Float>.randomUniform([10000], low: -2, high: 3, using: &g2) == u)
    }
}

@Suite struct BLASRuntimeTests {
    @Test func reportsVersionAndCore() {
        #expect(BLASRuntime.configuration.contains("OpenBLAS"))
        #expect(!BLASRuntime.coreName.isEmpty)
        #expect(BLASRuntime.version.split(separator: ".").count >= 2)
        #expect(BLASRuntime.threadCount >= 1)
    }

    @Test func smallProductsRunOnOneThread() {
        let threshold = BLASRuntime.multiThreadingThreshold
        #expect(BLASRuntime.threads(forMultiplyAdds: 100 * 128 * 1, threadCount: 2) == 1)
        #expect(BLASRuntime.threads(forMultiplyAdds: threshold - 1, threadCount: 4) == 1)
        #expect(BLASRuntime.threads(forMultiplyAdds: threshold, threadCount: 4) == 4)
        #expect(BLASRuntime.threads(forMultiplyAdds: 256 * 512 * 512, threadCount: 2) == 2)
        #expect(BLASRuntime.threads(forMultiplyAdds: 10, threadCount: 1) == 1)
    }

    @Test func verdicts() {
        let avx512: Set<String> = ["fma", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        let prescottOnSkylake = BLASCoreCheck(coreName: "Prescott", cpuFlags: avx512, coreTypeOverride: nil)
        #expect(prescottOnSkylake.isFarBelowCPU && prescottOnSkylake.shouldRelaunch)
        #expect(prescottOnSkylake.recommendedCoreType == "SkylakeX")
        #expect(prescottOnSkylake.description.contains("OPENBLAS_CORETYPE=SkylakeX"))
        // A core the user chose is respected: no relaunch.
        #expect(!BLASCoreCheck(coreName: "Prescott", cpuFlags: avx512, coreTypeOverride: "Prescott").shouldRelaunch)
        #expect(!BLASCoreCheck(coreName: "SkylakeX", cpuFlags: avx512, coreTypeOverride: nil).isFarBelowCPU)
        #expect(!BLASCoreCheck(coreName: "Cooperlake", cpuFlags: avx512, coreTypeOverride: nil).isFarBelowCPU)
        let haswell = BLASCoreCheck(coreName: "Prescott", cpuFlags: ["avx", "avx2", "fma"], coreTypeOverride: nil)
        #expect(haswell.isFarBelowCPU && haswell.recommendedCoreType == "Haswell")
        #expect(!BLASCoreCheck(coreName: "Prescott", cpuFlags: ["sse3"], coreTypeOverride: nil).isFarBelowCPU)
    }

    @Test func parsesCPUInfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse avx2 fma avx512f\n\nflags : other"
        #expect(CPUFeatures.flags(fromCPUInfo: text) == ["fpu", "sse", "avx2", "fma", "avx512f"])
    }
}

@Suite struct AllFiniteTests {
    /// An infinity or a NaN at any position, in the SIMD part or the tail, in Float and Double.
    func check<Scalar: BLASScalar>(_ type: Scalar.Type, count: Int) {
        var generator = Xoshiro256StarStar(seed: 4)
        var tensor = Tensor<Scalar>.randomNormal([count], standardDeviation: 1, using: &generator)
        tensor[0] = .greatestFiniteMagnitude
        if count > 1 { tensor[count - 1] = -.greatestFiniteMagnitude }
        #expect(tensor.allFinite, "\(Scalar.self) \(count)")
        for position in 0..<count {
            for bad in [Scalar.infinity, -.infinity, .nan] {
                var broken = tensor
                broken[position] = bad
                #expect(!broken.allFinite, "\(Scalar.self) \(count): \(bad) at \(position)")
            }
        }
    }

    @Test func findsEveryNonFiniteElement() {
        for count in [1, 7, 8, 19, 37, 64] {
            check(Double.self, count: count)
            check(Float.self, count: count)
        }
        #expect(Tensor<Double>(shape: [0], scalars: []).allFinite)
    }
}
