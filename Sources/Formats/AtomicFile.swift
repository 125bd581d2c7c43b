import Glibc

/// Writes and reads whole files. Writes go to a temporary name in the same folder, are flushed
/// to disk, then renamed over the target, so a crash or a full disk never leaves a torn file.
public enum AtomicFile {
    /// The infix of temporary names: `<path>.tmp-<pid>-<random>`.
    static let temporaryInfix = ".tmp-"

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws {
        let temporary = "\(path)\(temporaryInfix)\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
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
        syncFolder(of: path)
    }

    /// Flushes the folder holding `path`, so that the rename itself survives a power cut (the
    /// file's bytes already did). Best effort: the file is in place whatever this returns, and
    /// some file systems cannot sync a folder.
    static func syncFolder(of path: String) {
        let descriptor = open(folder(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    /// The folder a path names a file in: "runs/a/metrics.json" -> "runs/a", "x.json" -> ".".
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
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

    /// Removes the temporary files that writers killed mid-write (SIGKILL, power loss) left in
    /// `folder`; those of a process still running are kept.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeAbandonedTemporaryFiles(in folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        var names: [String] = []
        while let entry = readdir(directory) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        closedir(directory)
        var removed: [String] = []
        for name in names {
            guard let infix = name.ranges(of: temporaryInfix).last else { continue }
            let suffix = name[infix.upperBound...].split(separator: "-")
            guard suffix.count == 2, let pid = Int32(suffix[0]), UInt64(suffix[1]) != nil else { continue }
            // kill(pid, 0) fails with ESRCH when no such process exists.
            let alive = pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH
            if !alive && unlink(folder + "/" + name) == 0 { removed.append(name) }
        }
        return removed.sorted()
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}
