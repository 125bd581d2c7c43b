import Foundation
import Testing
@testable import Formats
import TestSupport

@Suite struct AtomicFileTests {
    @Test func writeThenReadBack() throws {
        try withTemporaryFolder { folder throws in
            let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }  // several read chunks
            try AtomicFile.write(bytes, to: folder + "/data.bin")
            #expect(try AtomicFile.read(folder + "/data.bin") == bytes)

            try AtomicFile.write("héllo\nwörld", to: folder + "/text.txt")
            #expect(try AtomicFile.readText(folder + "/text.txt") == "héllo\nwörld")

            try AtomicFile.write([UInt8](), to: folder + "/empty")
            #expect(try AtomicFile.read(folder + "/empty") == [])
            #expect(try listing(folder) == ["data.bin", "empty", "text.txt"])
        }
    }

    /// The folder whose entry the rename changes, which is synced after it.
    @Test func theFolderOfAPath() {
        #expect(AtomicFile.folder(of: "runs/toy/metrics.json") == "runs/toy")
        #expect(AtomicFile.folder(of: "metrics.json") == ".")
        #expect(AtomicFile.folder(of: "/metrics.json") == "/")
        #expect(AtomicFile.folder(of: "/tmp/x/y") == "/tmp/x")
    }

    @Test func overwritingReplacesTheWholeContent() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/file"
            try AtomicFile.write("a long first version of the file", to: path)
            try AtomicFile.write("short", to: path)
            #expect(try AtomicFile.readText(path) == "short")
            #expect(try listing(folder) == ["file"])
        }
    }

    @Test func writingIntoAMissingFolderThrowsNamingThePath() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/no/such/folder/file.json"
            let error = #expect(throws: FileError.self) { try AtomicFile.write("{}", to: path) }
            #expect(error?.path == path)
            #expect(error?.description.hasPrefix(path + ": cannot create: ") == true, "\(String(describing: error))")
            #expect(try listing(folder) == [])
        }
    }

    @Test func failedRenameLeavesNoTemporaryFile() throws {
        try withTemporaryFolder { folder throws in
            // A folder in the way: the temporary file is written, then the rename over it fails.
            let path = folder + "/target"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            let error = #expect(throws: FileError.self) { try AtomicFile.write("data", to: path) }
            #expect(error?.path == path)
            #expect(error?.problem.hasPrefix("rename failed") == true, "\(String(describing: error))")
            #expect(try listing(folder) == ["target"])
            #expect(try listing(path) == [])
        }
    }

    @Test func successLeavesNoTemporaryFile() throws {
        try withTemporaryFolder { folder throws in
            for index in 0..<5 { try AtomicFile.write("version \(index)", to: folder + "/file") }
            #expect(try listing(folder) == ["file"])
        }
    }

    @Test func readingAMissingFileThrowsNamingThePath() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/absent"
            let error = #expect(throws: FileError.self) { try AtomicFile.read(path) }
            #expect(error?.description.hasPrefix(path + ": cannot open: ") == true)
            #expect(throws: FileError.self) { try AtomicFile.readText(path) }
        }
    }

    @Test func readTextRejectsInvalidUTF8() throws {
        try withTemporaryFolder { folder throws in
            let path = folder + "/bad.txt"
            try AtomicFile.write([0x61, 0xFF, 0x62], to: path)
            let error = #expect(throws: FileError.self) { try AtomicFile.readText(path) }
            #expect(error == FileError(path: path, problem: "not valid UTF-8 text"))
        }
    }
}
