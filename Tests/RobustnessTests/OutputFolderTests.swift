import Experiments
import Foundation
import Testing
import TestSupport

/// A 64 KiB tmpfs, where the system allows mounting one (root outside a locked-down sandbox).
enum TinyDisk {
    /// Whether `mount -t tmpfs` works here; tried once.
    static let isAvailable: Bool = {
        (try? withTemporaryFolder { folder in
            guard mount("tmpfs", folder, "tmpfs", 0, "size=64k") == 0 else { return false }
            umount(folder)
            return true
        }) ?? false
    }()

    /// Runs `body` with a fresh 64 KiB tmpfs mounted on a temporary folder.
    static func withMounted<R>(_ body: (String) throws -> R) throws -> R {
        try withTemporaryFolder { folder in
            let disk = folder + "/disk"
            try FileSystem.createFolder(disk)
            guard mount("tmpfs", disk, "tmpfs", 0, "size=64k") == 0 else {
                throw FileError(path: disk, problem: "mount failed: \(String(cString: strerror(errno)))")
            }
            defer { umount(disk) }
            return try body(disk)
        }
    }
}

/// An output folder that cannot be created or filled gives a clear error (exit 1), and leaves no
/// partial files: whatever is in the folder is whole, and no temporary file stays behind.
@Suite struct OutputFolderTests {
    static let arguments = ["--config", "small.json", "--threads", "1", "--quiet", "--blas-core", "keep"]

    @Test func aPathThroughARegularFileIsRefused() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            try AtomicFile.write("not a folder", to: folder + "/file")
            let result = try runTrain(Self.arguments + ["--output", "file/run"], in: folder)
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.standardError.hasPrefix("error: "), "\(result)")
            #expect(result.standardError.hasSuffix("file/run: cannot create folder: Not a directory\n"), "\(result)")
            #expect(try AtomicFile.readText(folder + "/file") == "not a folder")
            #expect(filesBelow(folder).filter { !$0.hasPrefix(".std") } == ["file", "small.json"])

            let onTheFile = try runTrain(Self.arguments + ["--output", "file"], in: folder)
            #expect(onTheFile.exitCode == 1 && onTheFile.standardError == "error: file: exists but is not a folder\n", "\(onTheFile)")
        }
    }

    @Test func aFolderTheKernelRefusesIsRefused() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            // /proc accepts no new folders, not even from root.
            let result = try runTrain(Self.arguments + ["--output", "/proc/finitewidth-test/run"], in: folder)
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.standardError.hasPrefix("error: /proc/finitewidth-test: cannot create folder: "), "\(result)")
        }
    }

    /// A file size limit (`ulimit -f`, SIGXFSZ ignored so writes fail with EFBIG): the first
    /// checkpoint (9 KB) cannot be written, in any sandbox.
    @Test(.timeLimit(.minutes(1))) func aWriteThatFailsLeavesNoPartialFile() throws {
        try withTemporaryFolder { folder in
            try AtomicFile.write(smallRunConfig, to: folder + "/small.json")
            let result = try runTrain(Self.arguments + ["--output", "run"], in: folder, shellPrefix: "trap '' XFSZ; ulimit -f 8")
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.standardError.contains("checkpoint.safetensors: write failed after "), "\(result)")
            #expect(result.standardError.contains("File too large"), "\(result)")
            let problems = runFolderProblems(folder + "/run", allowTemporaries: false)
            #expect(problems.isEmpty, "\(problems)")
            #expect(filesBelow(folder + "/run") == ["config.json"])
        }
    }

    /// A full disk: a 64 KiB tmpfs fills while a wider network's checkpoint is written.
    @Test(.enabled(if: TinyDisk.isAvailable, "mounting a tmpfs is not permitted here"), .timeLimit(.minutes(1)))
    func aFullDiskLeavesNoPartialFile() throws {
        try withTemporaryFolder { folder in
            let wide = smallRunConfig.replacingOccurrences(of: #""width": 16"#, with: #""width": 64"#)
            try AtomicFile.write(wide, to: folder + "/small.json")
            try TinyDisk.withMounted { disk in
                let result = try runTrain(Self.arguments + ["--output", disk + "/run"], in: folder)
                #expect(result.exitCode == 1, "\(result)")
                #expect(result.standardError.contains("No space left on device"), "\(result)")
                #expect(result.standardError.contains("error: 1 run(s) failed:"), "\(result)")
                let problems = runFolderProblems(disk + "/run", allowTemporaries: false)
                #expect(problems.isEmpty, "\(problems)")
                #expect(filesBelow(disk + "/run") == ["config.json"])
            }
        }
    }
}
