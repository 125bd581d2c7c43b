/// Input Jacobians as tape values: forward-mode tangents carried beside a batch's values, each
/// layer's tangent recorded with ordinary differentiable ops, so that the Jacobian J(x) = df/dx of
/// a batch is a variable on the tape and `backward` from anything built of it (the Jacobian
/// penalty, `JacobianPenalty.swift`) reaches the parameters through second derivatives.
///
/// Layout: for a batch of B rows with d input features, the tangents of an [B, n] value are one
/// [d B, n] matrix of d blocks of B rows: row j B + i holds d(value row i) / d x_ij, the derivative
/// of sample i's features along its own input's coordinate j. Blocks keep every layer's tangent
/// GEMM-shaped: Dense's is one product of all d B rows with the same W (a Dense op without bias);
/// an activation's multiplies each block by phi'(x) (`activationDerivative`, `blockwiseProduct`);
/// LayerNorm's and RMSNorm's is one fused op (`normalizationTangent`). Cost: one more pass per
/// input dimension, forward and backward.

/// A batch's values and their input tangents, recorded on one tape (see the layout above).
public struct ValueAndTangents<Scalar: BLASScalar> {
    /// [B, n]: one sample a row.
    public let value: Variable<Scalar>
    /// [d B, n]: block j holds the derivatives along input coordinate j.
    public let tangents: Variable<Scalar>

    public init(value: Variable<Scalar>, tangents: Variable<Scalar>) {
        let (valueNode, tangentNode) = (value.tape.node(of: value, in: "ValueAndTangents"), value.tape.node(of: tangents, in: "ValueAndTangents"))
        let (valueShape, tangentShape) = (valueNode.value.shape, tangentNode.value.shape)
        precondition(valueShape.count == 2 && tangentShape.count == 2 && valueShape[0] > 0
                        && tangentShape[0] % valueShape[0] == 0 && tangentShape[1] == valueShape[1],
                     "ValueAndTangents: tangents of shape \(tangentShape) do not fit values of shape \(valueShape) "
                        + "(expected [d * rows, columns], d blocks of the values' rows)")
        self.value = value
        self.tangents = tangents
    }

    public var tape: Tape<Scalar> { value.tape }
    /// d, the number of input coordinates the tangents follow.
    public var inputDimensions: Int {
        tape.node(of: tangents, in: "inputDimensions").value.shape[0] / tape.node(of: value, in: "inputDimensions").value.shape[0]
    }
}

extension Tape {
    /// Records a batch of inputs (one sample a row, d features) with the identity as tangents:
    /// block j is the unit vector e_j in every row, so a network's output tangents are its input
    /// Jacobian. Neither needs a gradient.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func inputWithTangents(_ x: Tensor<Scalar>) -> ValueAndTangents<Scalar> {
        precondition(x.rank == 2 && x.shape[0] > 0 && x.shape[1] > 0,
                     "inputWithTangents: expected a matrix [rows, features] with at least one of each, got \(x.shape)")
        let value = input(x)
        let (rows, dimensions) = (x.shape[0], x.shape[1])
        let node = nextNode(rows: dimensions &* rows, columns: dimensions, operation: .input)
        let identity = node.value.unsafeMutableBaseAddress()
        identity.update(repeating: 0, count: dimensions &* rows &* dimensions)
        for block in 0..<dimensions {
            for row in 0..<rows { identity[(block &* rows &+ row) &* dimensions &+ block] = 1 }
        }
        return ValueAndTangents(value: value, tangents: recordedVariable())
    }
}

/// The refusal of a layer or custom op without a tangent forward.
func missingTangents(_ what: String) -> Never {
    preconditionFailure("\(what) has no tangent forward, so input Jacobians (and the Jacobian penalty) cannot pass "
        + "through it; give it one (Layer.callAsFunction(_: ValueAndTangents) with providesTangents, or "
        + "CustomOperation.tangents(of:output:)), or leave it out of networks trained with a Jacobian penalty")
}
