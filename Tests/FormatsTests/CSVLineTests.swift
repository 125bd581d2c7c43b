import Testing
import Formats

/// The CSV line reader every CSV reader in FiniteWidth goes through (data sets, points files,
/// the two-column files of a run folder).
@Suite struct CSVLineTests {
    @Test func splitsLinesAtLFAndCRLFAndDropsAByteOrderMark() {
        let lines = CSVLine.lines(of: "\u{FEFF}a,b\r\n1,2\n\n 3 ,4\r\n")
        #expect(lines.map(\.number) == [1, 2, 3, 4, 5])
        #expect(lines.map { String($0.text) } == ["a,b", "1,2", "", " 3 ,4", ""])
        #expect(lines.map(\.isBlank) == [false, false, true, false, true])
    }

    @Test func unquotesAndTrimsFields() throws {
        let line = CSVLine.lines(of: #" a ,"b, ""c""" , ,"  d  ""#)[0]
        #expect(try line.fields(file: "t.csv") == ["a", #"b, "c""#, "", "  d  "])
    }

    @Test func malformedQuotingNamesFileRowAndColumn() {
        let lines = CSVLine.lines(of: "x\n1,\"2\"3\n\"open")
        #expect(throws: FormatError(file: "t.csv", row: 2, column: "column 2", problem: "text after a closing quote")) {
            try lines[1].fields(file: "t.csv")
        }
        #expect(throws: FormatError(file: "t.csv", row: 3, column: "column 1", problem: "unterminated quote (a field cannot span lines)")) {
            try lines[2].fields(file: "t.csv")
        }
    }

    @Test func numbersAreFiniteDecimals() {
        #expect(["-3", "4.5", "1e-3", "+2", ".5"].map(CSVLine.finiteNumber) == [-3, 4.5, 0.001, 2, 0.5])
        #expect(["", "nan", "inf", "-inf", "0x10", "1e999", "1_000", "abc"].allSatisfy { CSVLine.finiteNumber($0) == nil })
    }
}
