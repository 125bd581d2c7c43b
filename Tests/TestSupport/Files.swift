import Foundation
import Formats

public func writeFile(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
}

public func readText(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

public func readBytes(_ path: String) throws -> Data {
    guard let data = FileManager.default.contents(atPath: path) else { throw FileError(path: path, problem: "cannot read") }
    return data
}

/// Whether a file or folder exists at `path`.
public func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// The names in a folder, sorted.
public func listing(_ path: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
}

public func readJSON(_ path: String) throws -> JSONValue {
    try JSONValue.parse(readText(path))
}

public func keys(_ value: JSONValue?) -> [String] {
    value?.objectMembers?.map(\.key) ?? []
}

/// `value` without any `wallTimeSeconds` member, at any depth: the only field two identical
/// runs may differ in.
public func withoutWallTime(_ value: JSONValue) -> JSONValue {
    switch value {
    case .object(let members):
        .object(members.filter { $0.key != "wallTimeSeconds" }.map { JSONMember($0.key, withoutWallTime($0.value)) })
    case .array(let elements):
        .array(elements.map(withoutWallTime))
    default:
        value
    }
}

/// A CSV file's non-blank lines split into fields by the project's CSV reader.
public func csvRows(_ path: String) throws -> [[String]] {
    try CSVLine.lines(of: readText(path)).filter { !$0.isBlank }.map { try $0.fields(file: path) }
}

/// A metrics file without its wall times (at any depth: a sweep's lists each run's), which
/// measure the machine rather than the computation.
public func metricsWithoutWallTime(_ path: String) throws -> JSONValue {
    withoutWallTime(try readJSON(path))
}

/// Every file below `folder`, as paths relative to it, sorted.
public func filesBelow(_ folder: String) -> [String] {
    var found: [String] = []
    for name in FileSystem.contents(of: folder) {
        let path = folder + "/" + name
        if FileSystem.isFolder(path) {
            found += filesBelow(path).map { name + "/" + $0 }
        } else {
            found.append(name)
        }
    }
    return found.sorted()
}
