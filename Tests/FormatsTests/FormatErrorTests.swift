import Testing
import Formats

/// Every format's malformed content is one error type; its text says file, place and problem in
/// the words each format has always used.
@Suite struct FormatErrorTests {
    @Test func namesTheFileAndWhereInIt() {
        #expect(FormatError(path: "a.safetensors", problem: "header is not a JSON object").description
                == "a.safetensors: header is not a JSON object")
        let text = FormatError(path: "x.json", location: .text(line: 2, column: 26, byteOffset: 30), problem: "trailing comma")
        #expect(text.description == "x.json: line 2, column 26: trailing comma")
        #expect(text.line == 2 && text.column == 26 && text.byteOffset == 30)
        #expect(FormatError(file: "d.csv", row: 3, problem: "empty row").description == "d.csv: row 3: empty row")
        let cell = FormatError(file: "d.csv", row: 4, column: "\"bmi\" (column 3)", problem: "\"x\" is not a finite number")
        #expect(cell.description == "d.csv: row 4, \"bmi\" (column 3): \"x\" is not a finite number")
        #expect(cell.line == 4 && cell.column == nil && cell.byteOffset == nil)
        #expect(FormatError(file: "d.csv", column: "\"y\" (column 2)", problem: "too large").description
                == "d.csv: \"y\" (column 2): too large")
    }
}

@Suite struct JSONSourceTests {
    /// The byte offset counts bytes (for binary formats that embed JSON), the column characters.
    @Test func errorsCarryTheSourceAndBothKindsOfPosition() {
        #expect {
            try JSONValue.parse("{\"é\": x}", source: "configs/x.json")
        } throws: { error in
            guard let error = error as? FormatError else { return false }
            return error.path == "configs/x.json" && error.column == 7 && error.byteOffset == 7
                && error.description == "configs/x.json: line 1, column 7: unexpected 'x', expected a value"
        }
    }

    /// Reading bytes (as the safetensors header is read), invalid UTF-8 inside a string is an error
    /// at the string's first byte, not text silently repaired with U+FFFD.
    @Test func invalidUTF8InAStringIsRefused() {
        var parser = JSONParser(utf8: Array("[\"a".utf8) + [0xFF] + Array("\"]".utf8), source: "bytes", maximumDepth: 8)
        #expect {
            try parser.parseValue()
        } throws: { error in
            (error as? FormatError)?.description == "bytes: line 1, column 3: invalid UTF-8 in a string"
        }
    }

    /// Repeated keys are refused by default and kept on request (safetensors names what repeats).
    @Test func duplicateKeysRefusedOrKept() throws {
        #expect(throws: FormatError.self) { try JSONValue.parse(#"{"a": 1, "a": 2}"#) }
        var parser = JSONParser(utf8: Array(#"{"a": 1, "a": 2}"#.utf8), source: "bytes", maximumDepth: 8, duplicateKeys: .kept)
        #expect(try parser.parseValue().objectMembers?.map(\.key) == ["a", "a"])
    }

    @Test func aByteOrderMarkIsSkippedInText() throws {
        #expect(try JSONValue.parse("\u{FEFF}{\"a\": 1}")["a"] == .number("1"))
    }
}
