/// A small XML reader for tests: checks that a document (an SVG plot) is well-formed (one root,
/// tags named, nested and closed, attribute values quoted and not repeated, `<` and `&` only where
/// they belong) and lists its elements.
public struct XMLCheck {
    public struct Element {
        public let name: String
        public let attributes: [String: String]
        /// The text directly inside, with entities decoded (for `<text>`, including its `<tspan>`s).
        public var text: String
    }

    public private(set) var elements: [Element] = []
    /// What keeps the document from being well-formed; empty when it is.
    public private(set) var problems: [String] = []
    /// The names of the top-level elements (a well-formed document has one).
    public private(set) var roots: [String] = []

    public init(_ document: String) {
        let characters = Array(document.unicodeScalars)
        var index = 0
        var open: [Int] = []  // indices into elements of the open tags
        var problems: [String] = []
        var elements: [Element] = []
        var roots: [String] = []

        func starts(_ prefix: String) -> Bool {
            let scalars = Array(prefix.unicodeScalars)
            return index + scalars.count <= characters.count && Array(characters[index..<(index + scalars.count)]) == scalars
        }
        func skip(past terminator: String) -> Bool {
            while index < characters.count {
                if starts(terminator) {
                    index += terminator.unicodeScalars.count
                    return true
                }
                index += 1
            }
            return false
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
        /// `raw` with its entities decoded, or nil for a bare `&` or an unknown entity.
        func decodeEntities(_ raw: String) -> String? {
            var result = ""
            var rest = Substring(raw)
            while let ampersand = rest.firstIndex(of: "&") {
                result += rest[..<ampersand]
                guard let semicolon = rest[ampersand...].firstIndex(of: ";") else { return nil }
                let entity = rest[rest.index(after: ampersand)..<semicolon]
                switch entity {
                case "amp": result += "&"
                case "lt": result += "<"
                case "gt": result += ">"
                case "quot": result += "\""
                case "apos": result += "'"
                default:
                    guard entity.hasPrefix("#"), let code = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(code) else { return nil }
                    result.unicodeScalars.append(scalar)
                }
                rest = rest[rest.index(after: semicolon)...]
            }
            return result + rest
        }

        while index < characters.count && problems.isEmpty {
            if starts("<?") {
                if !skip(past: "?>") { problems.append("unterminated declaration") }
            } else if starts("<!--") {
                if !skip(past: "-->") { problems.append("unterminated comment") }
            } else if starts("<!") {
                if !skip(past: ">") { problems.append("unterminated declaration") }
            } else if starts("</") {
                index += 2
                let closing = name()
                skipSpace()
                guard index < characters.count && characters[index] == ">" else { problems.append("malformed </\(closing)"); break }
                index += 1
                guard let innermost = open.popLast(), elements[innermost].name == closing else {
                    problems.append("</\(closing)> closes <\(open.last.map { elements[$0].name } ?? "nothing")>")
                    break
                }
                if let parent = open.last, elements[parent].name == "text" { elements[parent].text += elements[innermost].text }
            } else if characters[index] == "<" {
                index += 1
                let element = name()
                if element.isEmpty { problems.append("a tag without a name"); break }
                if open.isEmpty { roots.append(element) }
                var attributes: [String: String] = [:]
                var selfClosing = false
                while problems.isEmpty {
                    skipSpace()
                    guard index < characters.count else { problems.append("<\(element) is not closed"); break }
                    if characters[index] == ">" { index += 1; break }
                    if starts("/>") { index += 2; selfClosing = true; break }
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
                    if attributes[attribute] != nil { problems.append("<\(element)> repeats \(attribute)") }
                    guard let decoded = decodeEntities(value) else {
                        problems.append("a bare & or an unknown entity in <\(element) \(attribute)=...>")
                        break
                    }
                    attributes[attribute] = decoded
                }
                elements.append(Element(name: element, attributes: attributes, text: ""))
                if !selfClosing { open.append(elements.count - 1) }
            } else {
                var raw = ""
                while index < characters.count && characters[index] != "<" {
                    raw.unicodeScalars.append(characters[index])
                    index += 1
                }
                guard let decoded = decodeEntities(raw) else {
                    problems.append("a bare & or an unknown entity in the text \(raw)")
                    break
                }
                if let innermost = open.last {
                    elements[innermost].text += decoded
                } else if !decoded.allSatisfy(\.isWhitespace) {
                    problems.append("text outside the root element")
                }
            }
        }
        if problems.isEmpty && !open.isEmpty { problems.append("unclosed <\(open.map { elements[$0].name }.joined(separator: "><"))>") }
        if problems.isEmpty && roots.count != 1 { problems.append("\(roots.count) root elements") }
        (self.elements, self.problems, self.roots) = (elements, problems, roots)
    }

    /// The text of every `<text>` element.
    public var texts: [String] { elements.filter { $0.name == "text" }.map(\.text) }

    /// Every coordinate and length attribute, and every number in `points`.
    public var numbers: [String] {
        let numeric = ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"]
        return elements.flatMap { element -> [String] in
            let plain = numeric.compactMap { element.attributes[$0] }
            let points = (element.attributes["points"] ?? "").split { $0 == " " || $0 == "," }.map(String.init)
            return plain + points
        }
    }
}

/// The problems that keep `document` from being a well-formed XML document with one `<svg>`
/// root. Empty when the document is fine.
public func svgProblems(_ document: String) -> [String] {
    let check = XMLCheck(document)
    if check.problems.isEmpty && check.roots != ["svg"] { return ["the root elements are \(check.roots), expected one <svg>"] }
    return check.problems
}
