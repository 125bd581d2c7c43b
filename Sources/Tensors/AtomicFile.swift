import Glibc

/// An I/O failure, naming the file and what the system said.
public struct FileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "\(path): \(problem)" }
}

/// Writes and reads whole files. Writes go to a temporary name in the same folder, are flushed
/// to disk, then renamed over the target, so a crash or a full disk never leaves a torn file.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, problem: "cannot create: \(errorText())") }
        var failure: String?
        let array = Array(bytes)
        array.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "write failed after \(offset) of \(buffer.count) bytes: \(errorText())"
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = "fsync failed: \(errorText())" }
        if close(descriptor) != 0, failure == nil { failure = "close failed: \(errorText())" }
        if failure == nil, rename(temporary, path) != 0 { failure = "rename failed: \(errorText())" }
        if let failure {
            unlink(temporary)
            throw FileError(path: path, problem: failure)
        }
    }

    /// Writes a UTF-8 string to `path` atomically.
    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw FileError(path: path, problem: "cannot open: \(errorText())") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = fread(&chunk, 1, chunk.count, file)
            if read > 0 { bytes.append(contentsOf: chunk[0..<read]) }
            if read < chunk.count {
                if ferror(file) != 0 { throw FileError(path: path, problem: "read failed: \(errorText())") }
                break
            }
        }
        return bytes
    }

    /// Reads a whole file as UTF-8 text.
    public static func readText(_ path: String) throws -> String {
        let bytes = try read(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FileError(path: path, problem: "not valid UTF-8 text")
        }
        return text
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
