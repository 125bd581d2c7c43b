import Foundation
import Experiments

func writeFile(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
}

func readText(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

func readBytes(_ path: String) throws -> Data {
    guard let data = FileManager.default.contents(atPath: path) else { throw FileError(path: path, problem: "cannot read") }
    return data
}

func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// The names in a folder, sorted.
func listing(_ path: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
}

func readJSON(_ path: String) throws -> JSONValue {
    try JSONValue.parse(readText(path))
}

func keys(_ value: JSONValue?) -> [String] {
    value?.objectMembers?.map(\.key) ?? []
}

/// `value` without any `wallTimeSeconds` member, at any depth: the only field two identical
/// runs may differ in.
func withoutWallTime(_ value: JSONValue) -> JSONValue {
    switch value {
    case .object(let members):
        .object(members.filter { $0.key != "wallTimeSeconds" }.map { JSONMember($0.key, withoutWallTime($0.value)) })
    case .array(let elements):
        .array(elements.map(withoutWallTime))
    default:
        value
    }
}

/// A CSV file's lines split into fields (no quoting needed for what `train` writes here).
func csvRows(_ path: String) throws -> [[String]] {
    try readText(path).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
}

/// The problems that keep `document` from being a well-formed XML document with an `<svg>`
/// root: tags nested and closed, attribute values quoted and not repeated, `<` and `&` only
/// where they belong. Empty when the document is fine.
func svgProblems(_ document: String) -> [String] {
    let characters = Array(document.unicodeScalars)
    var index = 0
    var open: [String] = []
    var roots: [String] = []
    var problems: [String] = []
    func starts(_ prefix: String) -> Bool {
        let scalars = Array(prefix.unicodeScalars)
        return index + scalars.count <= characters.count && Array(characters[index..<(index + scalars.count)]) == scalars
    }
    func skip(past terminator: String) {
        while index < characters.count && !starts(terminator) { index += 1 }
        index += terminator.unicodeScalars.count
    }
    func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_" || c == ":" || c == "."
    }
    func name() -> String {
        var result = ""
        while index < characters.count && isNameCharacter(characters[index]) {
            result.unicodeScalars.append(characters[index])
            index += 1
        }
        return result
    }
    func skipSpace() {
        while index < characters.count && characters[index].properties.isWhitespace { index += 1 }
    }
    func checkEntities(_ text: String, where place: String) {
        var rest = Substring(text)
        while let ampersand = rest.firstIndex(of: "&") {
            guard let semicolon = rest[ampersand...].firstIndex(of: ";") else {
                problems.append("bare & in \(place)")
                return
            }
            let entity = rest[rest.index(after: ampersand)..<semicolon]
            if !["amp", "lt", "gt", "quot", "apos"].contains(entity) && !(entity.hasPrefix("#") && UInt32(entity.dropFirst()) != nil) {
                problems.append("unknown entity &\(entity); in \(place)")
            }
            rest = rest[rest.index(after: semicolon)...]
        }
    }

    while index < characters.count && problems.isEmpty {
        if starts("<?") { skip(past: "?>"); continue }
        if starts("<!--") { skip(past: "-->"); continue }
        if starts("<!") { skip(past: ">"); continue }
        if starts("</") {
            index += 2
            let closing = name()
            skipSpace()
            guard index < characters.count && characters[index] == ">" else { problems.append("malformed </\(closing)"); break }
            index += 1
            if open.last != closing { problems.append("</\(closing)> closes <\(open.last ?? "nothing")>") } else { open.removeLast() }
            continue
        }
        if characters[index] == "<" {
            index += 1
            let element = name()
            if element.isEmpty { problems.append("a tag without a name"); break }
            if open.isEmpty { roots.append(element) }
            var attributes: Set<String> = []
            while true {
                skipSpace()
                guard index < characters.count else { problems.append("<\(element) is not closed"); break }
                if characters[index] == ">" { index += 1; open.append(element); break }
                if starts("/>") { index += 2; break }
                let attribute = name()
                skipSpace()
                guard !attribute.isEmpty, index < characters.count, characters[index] == "=" else {
                    problems.append("<\(element)>: malformed attribute \(attribute)")
                    break
                }
                index += 1
                skipSpace()
                guard index < characters.count, characters[index] == "\"" || characters[index] == "'" else {
                    problems.append("<\(element) \(attribute)=...>: the value is not quoted")
                    break
                }
                let quote = characters[index]
                index += 1
                var value = ""
                while index < characters.count && characters[index] != quote {
                    if characters[index] == "<" { problems.append("< inside <\(element) \(attribute)=...>") }
                    value.unicodeScalars.append(characters[index])
                    index += 1
                }
                index += 1
                if !attributes.insert(attribute).inserted { problems.append("<\(element)> repeats \(attribute)") }
                checkEntities(value, where: "<\(element) \(attribute)=...>")
            }
            continue
        }
        var content = ""
        while index < characters.count && characters[index] != "<" {
            content.unicodeScalars.append(characters[index])
            index += 1
        }
        if open.isEmpty && !content.allSatisfy(\.isWhitespace) { problems.append("text outside the root element") }
        checkEntities(content, where: "text")
    }
    if problems.isEmpty && !open.isEmpty { problems.append("unclosed <\(open.joined(separator: "><"))>") }
    if problems.isEmpty && roots != ["svg"] { problems.append("the root elements are \(roots), expected one <svg>") }
    return problems
}
