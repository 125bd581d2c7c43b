/// Saving and loading a network's parameters as a safetensors file that PyTorch loads directly:
/// `model.load_state_dict(safetensors.torch.load_file(path))` on the equivalent `nn.Sequential`.

/// A checkpoint that could not be used, naming the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

extension Layer {
    /// Writes every parameter and buffer under its PyTorch name, in this network's precision,
    /// atomically. A buffer PyTorch keeps as an integer (BatchNorm's `num_batches_tracked`, int64)
    /// is written in the network's precision too, as the format here writes F32 and F64 only;
    /// `load_state_dict` converts it back (it copies into the module's own int64 tensor), and
    /// `loadCheckpoint` reads PyTorch's I64 as a number of the network's precision.
    public func saveCheckpoint(to path: String, metadata: [String: String]? = nil) throws {
        try Safetensors.write(namedParameters.map { ($0.name, AnyTensor($0.parameter.value)) }
                                + namedBuffers.map { ($0.name, AnyTensor($0.buffer.value)) },
                              metadata: metadata, to: path)
    }

    /// Replaces the parameters and buffers with those stored in a safetensors file. Names and shapes must match
    /// the network exactly (all checked before anything changes); a file of the other precision is
    /// converted, as PyTorch's `load_state_dict` does.
    /// - Returns: the file's metadata, if any.
    @discardableResult
    public func loadCheckpoint(from path: String) throws -> [String: String]? {
        let file = try Safetensors.read(path)
        do {
            try load(stateDict: file.tensors.mapValues { $0.converted(to: Scalar.self) })
        } catch let error as StateDictError {
            throw CheckpointError(path: path, problem: error.description)
        }
        return file.metadata
    }
}
