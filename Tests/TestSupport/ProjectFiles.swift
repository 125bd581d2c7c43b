import Foundation
import Tensors

/// The project's root folder, found from this file's path (tests may run from any directory).
public let projectRoot: String = {
    var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    components.removeLast(3)  // Tests/TestSupport/ProjectFiles.swift
    return components.joined(separator: "/")
}()

/// Reads a reference fixture (a JSON object) that a test target copies from ../shared/reference
/// into its `Resources`; pass the target's `Bundle.module`.
public func fixture(_ name: String, in bundle: Bundle) throws -> [String: Any] {
    guard let url = bundle.url(forResource: name, withExtension: "json", subdirectory: "Resources") else {
        throw FileError(path: "Resources/\(name).json", problem: "no such fixture in the test bundle")
    }
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

/// A fixture's number, list of numbers, or list of rows of numbers as a Tensor (vectors keep
/// rank 1, a number is rank 0).
public func tensor(_ json: Any) -> Tensor<Double> {
    if let rows = json as? [[Double]] { return Tensor(rows) }
    if let vector = json as? [Double] { return Tensor(shape: [vector.count], scalars: vector) }
    if let scalar = json as? Double { return Tensor(shape: [], scalars: [scalar]) }
    fatalError("not a numeric array: \(json)")
}
