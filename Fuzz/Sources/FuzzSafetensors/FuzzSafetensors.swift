// libFuzzer target: Safetensors.decode on arbitrary bytes. Every input must be refused with a
// SafetensorsError naming the source, or decode into tensors no larger than the input that
// encode back to the same bits. A trap, a sanitizer report, or an allocation above the
// `-malloc_limit_mb` that scripts/fuzz sets is a finding.
import FuzzDriver
import Tensors

/// The entry point SwiftPM links as `main`: libFuzzer's driver.
@_cdecl("FuzzSafetensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzz_driver_main(argc, argv)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let file = try Safetensors.decode(bytes, source: "input")
        let tensorBytes = file.tensors.values.reduce(0) { $0 + $1.count * ($1.dtype == "F64" ? 8 : 4) }
        precondition(tensorBytes <= size, "decoded \(tensorBytes) bytes of tensors from a \(size)-byte input")
        let again = try Safetensors.decode(Safetensors.encode(file.tensors.map { ($0.key, $0.value) }, metadata: file.metadata))
        precondition(again.metadata == file.metadata && again.tensors.count == file.tensors.count, "re-encoding changed the file")
        for (name, tensor) in file.tensors {
            precondition(again.tensors[name].map { bits($0) == bits(tensor) && $0.shape == tensor.shape } == true,
                         "re-encoding changed tensor \(name)")
        }
    } catch let error as SafetensorsError {
        precondition(error.path == "input" && !error.problem.isEmpty, "an error without a message: \(error)")
    } catch {
        preconditionFailure("unexpected error \(type(of: error)): \(error)")
    }
    return 0
}

func bits(_ tensor: AnyTensor) -> [UInt64] {
    switch tensor {
    case .float(let t): t.scalars.map { UInt64($0.bitPattern) }
    case .double(let t): t.scalars.map(\.bitPattern)
    }
}
