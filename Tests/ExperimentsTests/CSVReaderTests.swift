import Testing
@testable import Experiments
import TestSupport

/// The points files of `train ntk` and the two-column files of a run folder, read through the
/// project's one CSV reader.
@Suite struct CSVReaderTests {
    @Test func pointsFilesTakeAHeaderCRLFBlankLinesAndQuotes() throws {
        try withTemporaryFolder { folder throws in
            try AtomicFile.write("x,\"y\"\r\n1, 2\r\n\r\n\"3\",-4.5e0\r\n", to: folder + "/p.csv")
            #expect(try KernelCommand.readPoints(folder + "/p.csv") == Tensor<Double>([[1, 2], [3, -4.5]]))
            try AtomicFile.write("1,2\n3,4\n", to: folder + "/q.csv")
            #expect(try KernelCommand.readPoints(folder + "/q.csv") == Tensor<Double>([[1, 2], [3, 4]]))
        }
    }

    @Test func pointsFileErrorsNameFileRowAndColumn() throws {
        try withTemporaryFolder { folder throws in
            func message(_ text: String) throws -> String? {
                try AtomicFile.write(text, to: folder + "/p.csv")
                do {
                    _ = try KernelCommand.readPoints(folder + "/p.csv")
                    return nil
                } catch let error as UsageError {
                    return error.message.replacingPrefix(folder + "/", with: "")
                }
            }
            #expect(try message("x,y\n1,2\n3,abc\n") == "p.csv: row 3, column 2: expected a finite number, found \"abc\"")
            #expect(try message("1,2\nnan,2\n") == "p.csv: row 2, column 1: expected a finite number, found \"nan\"")
            #expect(try message("1,2\n3\n") == "p.csv: row 2 has 1 numbers but the first point has 2")
            #expect(try message("x,y\n\n") == "p.csv: no points (expected one comma-separated point a row)")
            #expect(try message("1,\"2\n") == "p.csv: row 1, column 2: unterminated quote (a field cannot span lines)")
        }
    }

    /// What a run folder's `prediction.csv` holds comes back bit for bit, NaN and infinities included.
    @Test func twoColumnFilesRoundTrip() throws {
        try withTemporaryFolder { folder throws in
            let rows: [(Double, Double)] = [(-1, 0.1), (0, .nan), (1e-300, .infinity), (2.5, -.infinity)]
            try AtomicFile.write(twoColumnCSV("x", "prediction", rows), to: folder + "/c.csv")
            let read = try readTwoColumnCSV(folder + "/c.csv")
            #expect(read.map(\.0.bitPattern) == rows.map(\.0.bitPattern))
            #expect(read.map(\.1.isNaN) == [false, true, false, false])
            #expect(read.filter { !$0.1.isNaN }.map(\.1) == [0.1, .infinity, -.infinity])

            try AtomicFile.write("x,y\n1,2\n\n1,2,3\n", to: folder + "/bad.csv")
            #expect(throws: FormatError(path: folder + "/bad.csv", location: .row(4), problem: "expected two numbers, found \"1,2,3\"")) {
                try readTwoColumnCSV(folder + "/bad.csv")
            }
        }
    }
}

extension String {
    func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
}
