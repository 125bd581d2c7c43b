import Glibc

/// Owns one aligned allocation of `count` scalars. A `final class` so `Tensor` can share it
/// between copies and copy only on a write to shared storage (copy-on-write).
/// `@unchecked Sendable`: the buffer is only written through a uniquely referenced `Tensor`.
@usableFromInline
final class TensorStorage<Scalar: BLASScalar>: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<Scalar>
    @usableFromInline let count: Int

    @usableFromInline
    init(count: Int) {
        self.count = count
        // 64-byte alignment suits AVX-512 loads in BLAS; at least one element keeps the pointer valid.
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Scalar>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
    }

    @usableFromInline
    func copy() -> TensorStorage {
        let new = TensorStorage(count: count)
        new.pointer.update(from: pointer, count: count)
        return new
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// A dense n-dimensional array of `Float` or `Double` in contiguous row-major order, with value
/// semantics: copies share storage until one of them is written (copy-on-write).
public struct Tensor<Scalar: BLASScalar>: Sendable {
    /// The extent of each axis; a matrix is `[rows, columns]`.
    public let shape: [Int]
    @usableFromInline var storage: TensorStorage<Scalar>

    /// The number of scalars (the product of the shape).
    @inlinable public var count: Int { storage.count }
    /// The number of axes.
    @inlinable public var rank: Int { shape.count }
    /// Rows of a matrix (the first axis).
    @inlinable public var rows: Int { shape[0] }
    /// Columns of a matrix (the last axis; 1 for a rank-1 tensor, read as a column).
    @inlinable public var columns: Int { shape.count >= 2 ? shape[shape.count - 1] : 1 }

    /// A tensor of the given shape with uninitialised-then-filled storage.
    @inlinable
    public init(shape: [Int], repeating value: Scalar) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
        storage.pointer.initialize(repeating: value, count: storage.count)
    }

    /// A tensor holding `scalars` in row-major order; their count must equal the shape's product.
    @inlinable
    public init(shape: [Int], scalars: [Scalar]) {
        let expected = shape.reduce(1, *)
        precondition(scalars.count == expected,
                     "Tensor(shape:scalars:): shape \(shape) holds \(expected) scalars, got \(scalars.count)")
        self.init(shape: shape, repeating: 0)
        scalars.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: expected)
        }
    }

    /// A matrix from nested rows, all of one length.
    public init(_ rows: [[Scalar]]) {
        let columns = rows.first?.count ?? 0
        for (index, row) in rows.enumerated() {
            precondition(row.count == columns,
                         "Tensor(rows): row 0 has \(columns) columns but row \(index) has \(row.count)")
        }
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 })
    }

    @usableFromInline
    init(shape: [Int], storage: TensorStorage<Scalar>) {
        self.shape = shape
        self.storage = storage
    }

    /// A tensor whose contents the caller writes before reading (no fill pass).
    @inlinable
    public init(uninitializedShape shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative extent in shape \(shape)")
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    public static func filled(_ shape: [Int], with value: Scalar) -> Tensor { Tensor(shape: shape, repeating: value) }

    /// The n x n identity matrix.
    public static func identity(_ n: Int) -> Tensor {
        var result = Tensor.zeros([n, n])
        result.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<n { buffer[i * n + i] = 1 }
        }
        return result
    }

    /// The single element of a scalar (rank 0) or one-element tensor, such as a loss.
    public var scalar: Scalar {
        precondition(count == 1, "scalar: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer.pointee
    }

    /// The scalars in row-major order, copied into an array.
    public var scalars: [Scalar] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The rows of a matrix as nested arrays.
    public var array2D: [[Scalar]] {
        precondition(rank == 2, "array2D: expected a matrix, got shape \(shape)")
        let all = scalars
        return (0..<rows).map { Array(all[($0 * columns)..<(($0 + 1) * columns)]) }
    }

    /// Reads the storage without copying.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Writes the storage, copying it first only if another tensor shares it.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    @inlinable
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// True when no other tensor shares this storage, so a write will not copy.
    @inlinable
    public mutating func hasUniqueStorage() -> Bool { isKnownUniquelyReferenced(&storage) }

    /// The storage's base address for reading, for hot loops that hold several buffers at once.
    /// Valid while this storage is alive and unchanged: keep the tensor alive across the use.
    @inlinable
    public var unsafeBaseAddress: UnsafePointer<Scalar> { UnsafePointer(storage.pointer) }

    /// The storage's base address for writing, after making the storage unique (copy-on-write).
    /// Valid while this tensor keeps the same storage: do not copy it to another tensor meanwhile.
    @inlinable
    public mutating func unsafeMutableBaseAddress() -> UnsafeMutablePointer<Scalar> {
        makeUnique()
        return storage.pointer
    }

    /// Sets every element to zero in place: one memset (IEEE 754 zero is all zero bits), no
    /// per-element generic calls.
    @inlinable
    public mutating func setToZero() {
        let pointer = unsafeMutableBaseAddress()
        memset(pointer, 0, count * MemoryLayout<Scalar>.stride)
    }

    /// Row-major flat index of a multi-index.
    @inlinable
    func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count,
                     "Tensor subscript: \(indices.count) indices for shape \(shape)")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis],
                         "Tensor subscript: index \(index) out of range for axis \(axis) of shape \(shape)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    /// One element by its multi-index (`t[i, j]` for a matrix).
    @inlinable
    public subscript(_ indices: Int...) -> Scalar {
        get { storage.pointer[flatIndex(indices)] }
        set {
            let flat = flatIndex(indices)
            makeUnique()
            storage.pointer[flat] = newValue
        }
    }

    /// The same scalars under another shape with the same count (shares storage).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count,
                     "reshaped: cannot view shape \(shape) (\(count) scalars) as \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    /// Converts every scalar to another precision.
    public func converted<Other: BLASScalar>(to: Other.Type = Other.self) -> Tensor<Other> {
        var result = Tensor<Other>(uninitializedShape: shape)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for i in 0..<source.count { target[i] = Other(source[i]) }
            }
        }
        return result
    }
}

extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.withUnsafeBufferPointer { a in
            rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(Scalar.self)>(shape: \(shape), [\(preview)\(count > 8 ? ", ..." : "")])"
    }
}
