import Glibc

/// The few file-system operations a run folder needs, each failing with a `FileError`.
public enum FileSystem {
    /// Creates `path` and any missing parents (as `mkdir -p`).
    public static func createFolder(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileError(path: current, problem: "cannot create folder: \(String(cString: strerror(errno)))")
            }
        }
        guard isFolder(path) else { throw FileError(path: path, problem: "exists but is not a folder") }
        guard access(path, W_OK) == 0 else { throw FileError(path: path, problem: "folder is not writable") }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isFolder(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names in a folder, sorted, without `.` and `..` (empty if it cannot be read).
    public static func contents(of path: String) -> [String] {
        guard let folder = opendir(path) else { return [] }
        defer { closedir(folder) }
        var names: [String] = []
        while let entry = readdir(folder) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public static func remove(_ path: String) { unlink(path) }
}
