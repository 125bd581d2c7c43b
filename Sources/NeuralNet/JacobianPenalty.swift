/// The Jacobian penalty (Kim & Yang, ICML 2024's "robust training"): the loss
///   MSE + lambda * (1/B) sum_i ||J(x_i)||_F^2,   J(x_i) = df/dx at sample i,
/// the MSE as `meanSquaredError` (the mean over rows and outputs). The Jacobians are the output
/// tangents of the model's tangent forward (`ValueAndTangents`), so `backward` from this loss
/// differentiates through them: each layer's tangent op brings its second-order terms.

/// (1/B) sum_i ||J(x_i)||_F^2 for output tangents of d blocks of B rows: the sum of the squares of
/// every element divided by B.
public func meanSquaredJacobianNorm<Scalar: BLASScalar>(_ output: ValueAndTangents<Scalar>) -> Variable<Scalar> {
    let tape = output.tape
    let rows = tape.node(of: output.value, in: "meanSquaredJacobianNorm").value.shape[0]
    return tape.reduce(output.tangents.square(), divisor: Scalar(rows))
}

extension Tape {
    /// Records `model`'s loss on a batch with the Jacobian penalty `penalty` (lambda; 0 records the
    /// plain MSE, with no tangent pass), and returns it with its MSE part (equal to the loss when
    /// `penalty` is 0).
    public func jacobianPenalizedLoss(
        _ model: any Layer<Scalar>, inputs: Tensor<Scalar>, targets: Tensor<Scalar>, penalty: Scalar
    ) -> (loss: Variable<Scalar>, meanSquaredError: Variable<Scalar>) {
        guard penalty != 0 else {
            let loss = meanSquaredError(model(input(inputs)), targets)
            return (loss, loss)
        }
        precondition(penalty > 0 && penalty.isFinite, "jacobianPenalizedLoss: the penalty must be a finite number >= 0, got \(penalty)")
        precondition(model.providesTangents, "jacobianPenalizedLoss: the model (\(type(of: model))) has a layer without a tangent forward "
            + "(Layer.providesTangents is false), which a Jacobian penalty needs")
        let output = model(inputWithTangents(inputs))
        let error = meanSquaredError(output.value, targets)
        return (error + affine(meanSquaredJacobianNorm(output), factor: penalty), error)
    }
}
