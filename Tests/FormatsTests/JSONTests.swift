import Testing
import Formats

@Suite struct JSONParsingTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(#"{"a": [1, -2.5e3, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("d\né😀"))
    }

    @Test func keepsMemberOrderAndLiteralNumbers() throws {
        let value = try JSONValue.parse(#"{"z": 1, "a": 18446744073709551615, "m": 1.50}"#)
        #expect(value.objectMembers?.map(\.key) == ["z", "a", "m"])
        #expect(value["a"]?.unsignedIntegerValue == UInt64.max)
        #expect(value.rendered(style: .compact) == #"{"z":1,"a":18446744073709551615,"m":1.50}"#)
    }

    @Test func integersIncludeWholeDoublesOnly() throws {
        #expect(JSONValue.number("3").integerValue == 3)
        #expect(JSONValue.number("3.0").integerValue == 3)
        #expect(JSONValue.number("1e3").integerValue == 1000)
        #expect(JSONValue.number("3.5").integerValue == nil)
        #expect(JSONValue.number("1e300").integerValue == nil)
        #expect(JSONValue.number("-1").unsignedIntegerValue == nil)
    }

    struct BadInput: CustomTestStringConvertible, Sendable {
        let text: String
        let line: Int
        let column: Int
        let fragment: String
        var testDescription: String { text.count > 30 ? String(text.prefix(30)) + "..." : text }
    }

    static let badInputs: [BadInput] = [
        BadInput(text: "", line: 1, column: 1, fragment: "empty"),
        BadInput(text: "{\"a\": 1,}", line: 1, column: 9, fragment: "trailing comma"),
        BadInput(text: "[1, 2,]", line: 1, column: 7, fragment: "trailing comma"),
        BadInput(text: "{\"a\": 1, \"a\": 2}", line: 1, column: 10, fragment: "duplicate key \"a\""),
        BadInput(text: "{\n  \"a\": 01\n}", line: 2, column: 8, fragment: "leading zeros"),
        BadInput(text: "{\"a\": 1} x", line: 1, column: 10, fragment: "after the end"),
        BadInput(text: "{'a': 1}", line: 1, column: 2, fragment: "key in double quotes"),
        BadInput(text: "[1, // two\n 2]", line: 1, column: 5, fragment: "comments"),
        BadInput(text: "[tru]", line: 1, column: 2, fragment: "expected true"),
        BadInput(text: "\"abc", line: 1, column: 1, fragment: "unterminated string"),
        BadInput(text: "\"a\tb\"", line: 1, column: 3, fragment: "control character"),
        BadInput(text: "[\"\\ud800\"]", line: 1, column: 9, fragment: "lone high surrogate"),
        BadInput(text: "[1.]", line: 1, column: 2, fragment: "decimal point"),
        BadInput(text: "[NaN]", line: 1, column: 2, fragment: "expected a value"),
        BadInput(text: "{\"é\": x}", line: 1, column: 7, fragment: "expected a value"),
    ]

    @Test(arguments: badInputs) func reportsWhereTheTextIsWrong(_ input: BadInput) {
        #expect {
            try JSONValue.parse(input.text)
        } throws: { error in
            guard let error = error as? JSONSyntaxError else { return false }
            #expect(error.line == input.line && error.column == input.column, "\(error)")
            #expect(error.problem.contains(input.fragment), "\(error)")
            return true
        }
    }

    @Test func refusesDeepNestingWithoutCrashing() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        #expect(throws: Never.self) { try JSONValue.parse(String(repeating: "[", count: 150) + String(repeating: "]", count: 150)) }
    }
}

@Suite struct JSONWritingTests {
    @Test func roundTripsThroughText() throws {
        let value = JSONValue.object([
            "name": .string("quote \" backslash \\ newline \n control \u{01}"),
            "list": .array([.number(1), .number(0.1), .number(1e-8), .number(-0.0), .bool(true), .null]),
            "empty": .object([]),
            "nested": .array([.object(["x": .array([])])]),
        ])
        for style in [JSONRenderStyle.compact, .pretty] {
            #expect(try JSONValue.parse(value.rendered(style: style)) == value)
        }
    }

    @Test func writesNonFiniteNumbersAsNull() {
        #expect(JSONValue.number(Double.nan) == .null)
        #expect(JSONValue.number(-Double.infinity) == .null)
        #expect(JSONValue.number(Float(0.1)).rendered() == "0.1")
    }

    @Test func packsLongNumberListsIntoLines() throws {
        let value = JSONValue.object(["loss": .array((0..<200).map { .number(Double($0) / 7) })])
        let text = value.rendered(style: .pretty)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 100 })
        #expect(lines.count > 10 && lines.count < 80)
        #expect(try JSONValue.parse(text) == value)
    }

    @Test func prettyOutputIsStable() {
        let value = JSONValue.object(["a": .number(1), "b": .array([.number(1), .number(2)]), "c": .object(["d": .null])])
        #expect(value.rendered() == """
            {
              "a": 1,
              "b": [1, 2],
              "c": {
                "d": null
              }
            }
            """)
    }
}
