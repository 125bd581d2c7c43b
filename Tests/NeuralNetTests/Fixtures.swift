import Foundation
import NeuralNet

/// Reads a reference fixture copied from ../shared/reference into the test bundle.
func fixture(_ name: String) throws -> [String: Any] {
    guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Resources") else {
        throw FixtureMissing(name: name)
    }
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}
struct FixtureMissing: Error { let name: String }

/// A nested JSON array of numbers as a Tensor (vectors keep rank 1).
func tensor(_ json: Any) -> Tensor<Double> {
    if let rows = json as? [[Double]] { return Tensor(rows) }
    if let vector = json as? [Double] { return Tensor(shape: [vector.count], scalars: vector) }
    if let scalar = json as? Double { return Tensor(shape: [], scalars: [scalar]) }
    fatalError("not a numeric array: \(json)")
}

/// max |a - b| / max(|b|, 1e-12 * scale) over all elements, scale being b's largest magnitude.
func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.shape) vs \(b.shape)")
    let scale = max(b.maxAbs(), 1e-300)
    return zip(a.scalars, b.scalars).map { abs($0 - $1) / max(abs($1), 1e-3 * scale) }.max() ?? 0
}
