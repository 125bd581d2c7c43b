import Foundation
import Formats

/// A fresh empty folder under the temporary directory.
public func makeTemporaryFolder() throws -> String {
    var template = Array((NSTemporaryDirectory() + "finitewidth-tests-XXXXXX").utf8CString)
    return try template.withUnsafeMutableBufferPointer { buffer in
        guard let path = mkdtemp(buffer.baseAddress!) else { throw FileError(path: "mkdtemp", problem: "failed") }
        return String(cString: path)
    }
}

/// Runs `body` with a fresh empty folder, removed afterwards with everything in it.
public func withTemporaryFolder<R>(_ body: (String) throws -> R) throws -> R {
    let folder = try makeTemporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try body(folder)
}
