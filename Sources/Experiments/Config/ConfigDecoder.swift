/// The largest count we accept for sizes before the memory estimate looks at them; keeps
/// products of sizes finite in `Double` and every size an exact `Int`.
let largestSize = 1 << 52

/// Collects problems while a config is decoded, so one pass reports all of them, and knows which
/// parts of a merged config a variant or a grid cell wrote over the base (for paths in messages).
final class DecodingContext {
    /// Set when decoding a variant merged over the base.
    struct VariantSource {
        let index: Int
        let name: String
        /// Paths the variant wrote (or removed with `null`); everything inside them is the variant's.
        let writtenPaths: Set<JSONPath>
    }

    /// Set when decoding a grid cell merged over the base (or over a variant).
    struct GridCellSource {
        struct Write {
            /// The axis as written in `grid`: `model.weightStd`.
            let axis: String
            /// The position of the cell's value in the axis's list.
            let valueIndex: Int
            /// Paths this axis's value wrote.
            let writtenPaths: Set<JSONPath>
        }
        let name: String
        let writes: [Write]
    }

    let variant: VariantSource?
    let gridCell: GridCellSource?
    private(set) var problems: [ConfigProblem] = []

    init(variant: VariantSource? = nil, gridCell: GridCellSource? = nil) {
        self.variant = variant
        self.gridCell = gridCell
    }

    /// Whether some path in `written` is `path` or contains it.
    private static func covers(_ written: Set<JSONPath>, _ path: JSONPath) -> Bool {
        var prefix = path
        while true {
            if written.contains(prefix) { return true }
            if prefix.components.isEmpty { return false }
            prefix.components.removeLast()
        }
    }

    /// The grid axis whose value wrote the value at `path`, if one did.
    private func gridWrite(at path: JSONPath) -> GridCellSource.Write? {
        gridCell?.writes.first { DecodingContext.covers($0.writtenPaths, path) }
    }

    /// Whether the value at `path` came from the variant or the grid cell rather than the base.
    func isOverridden(_ path: JSONPath) -> Bool {
        if gridWrite(at: path) != nil { return true }
        guard let variant else { return false }
        return DecodingContext.covers(variant.writtenPaths, path)
    }

    /// Whether the variant or grid cell wrote `path`, something inside it, or something containing it.
    func overrideWrote(inside path: JSONPath) -> Bool {
        let written = (variant?.writtenPaths ?? []).union(gridCell?.writes.flatMap(\.writtenPaths) ?? [])
        return written.contains { $0.hasPrefix(path) || path.hasPrefix($0) }
    }

    /// Reports a problem with the value at `path`. A problem inside a grid value is located at
    /// the grid's list entry (`grid["model.width"][2]`), or at the axis alone when `aboutTheKey`
    /// (an unknown key is wrong for every value); one inside a variant at the variant.
    func report(_ path: JSONPath, _ message: String, aboutTheKey: Bool = false) {
        if let write = gridWrite(at: path) {
            let axis = JSONPath.root.appending("grid").appending(write.axis)
            let location = aboutTheKey ? axis : axis.appending(index: write.valueIndex)
            let written = write.writtenPaths.first { path.hasPrefix($0) }
            // Say where inside the value when the path goes deeper than the axis (a key of an object value).
            let inside = written.map { path.components.count > $0.components.count } ?? false
            problems.append(ConfigProblem(location: "\(location)", problem: inside ? "\(path): \(message)" : message))
            return
        }
        let cellNote = gridCell.map { "grid cell \"\($0.name)\"" }
        if let variant {
            if DecodingContext.covers(variant.writtenPaths, path) {
                let note = cellNote.map { " (with \($0))" } ?? ""
                problems.append(ConfigProblem(location: "variants[\(variant.index)].\(path)", problem: message + note))
            } else {
                let notes = ["variant \"\(variant.name)\", variants[\(variant.index)]"] + (cellNote.map { [$0] } ?? [])
                problems.append(ConfigProblem(location: "\(path)", problem: "\(message) (with \(notes.joined(separator: ", ")))"))
            }
        } else if let cellNote {
            problems.append(ConfigProblem(location: "\(path)", problem: "\(message) (with \(cellNote))"))
        } else {
            problems.append(ConfigProblem(location: "\(path)", problem: message))
        }
    }

    func report(_ problem: ConfigProblem) { problems.append(problem) }
}

/// A value in the config with its path; the typed readers report what they expected and what
/// they found, and return nil so decoding can go on to find further problems.
struct ConfigNode {
    let value: JSONValue
    let path: JSONPath
    let context: DecodingContext

    func report(_ message: String) { context.report(path, message) }

    /// Reports "expected <expectation>, found <value>" and returns nil.
    func mismatch<T>(_ expectation: String) -> T? {
        report("expected \(expectation), found \(found)")
        return nil
    }

    /// The value quoted for a message: `-3`, `"Relu"`, `a list [1, 2]`.
    var found: String {
        switch value {
        case .number, .string, .bool, .null: value.excerpt()
        case .array, .object: "\(value.kindDescription) \(value.excerpt())"
        }
    }

    func object() -> ConfigObject? {
        guard case .object(let members) = value else { return mismatch("an object { ... }") }
        return ConfigObject(node: self, members: members)
    }

    func list() -> [ConfigNode]? {
        guard case .array(let elements) = value else { return mismatch("a list [ ... ]") }
        return elements.enumerated().map { ConfigNode(value: $1, path: path.appending(index: $0), context: context) }
    }

    func string() -> String? {
        guard case .string(let text) = value else { return mismatch("a string in double quotes") }
        return text
    }

    func nonEmptyString() -> String? {
        guard case .string(let text) = value, !text.isEmpty else { return mismatch("a non-empty string") }
        return text
    }

    func bool() -> Bool? {
        guard case .bool(let flag) = value else { return mismatch("true or false") }
        return flag
    }

    /// A finite number satisfying `isAllowed`, described by `expectation` ("a number > 0").
    func number(_ expectation: String = "a number", where isAllowed: (Double) -> Bool = { _ in true }) -> Double? {
        guard let number = value.doubleValue, number.isFinite, isAllowed(number) else { return mismatch(expectation) }
        return number
    }

    /// A whole number in `range`, described by `expectation` ("a positive integer").
    func integer(_ expectation: String, in range: ClosedRange<Int>) -> Int? {
        guard let integer = value.integerValue, range.contains(integer) else { return mismatch(expectation) }
        return integer
    }

    /// One of an enumeration's raw values.
    func choice<Choice: RawRepresentable & CaseIterable>(_ type: Choice.Type) -> Choice? where Choice.RawValue == String {
        if case .string(let text) = value, let choice = Choice(rawValue: text) { return choice }
        return mismatch(ConfigNode.oneOf(Choice.allCases.map(\.rawValue)))
    }

    /// `one of "a", "b", "c"` (or `"a"` alone).
    static func oneOf(_ options: [String]) -> String {
        let quoted = options.map { "\"\($0)\"" }
        return quoted.count == 1 ? quoted[0] : "one of " + quoted.joined(separator: ", ")
    }
}

/// An object being decoded: members are taken one by one, and ``finish(known:inapplicable:)``
/// reports whatever was left over, with a suggestion when a key looks like a typo.
final class ConfigObject {
    let node: ConfigNode
    let members: [JSONMember]
    private var taken: Set<String> = []

    init(node: ConfigNode, members: [JSONMember]) {
        self.node = node
        self.members = members
    }

    var path: JSONPath { node.path }
    var context: DecodingContext { node.context }

    /// Whether the object holds `key` with a value other than `null`.
    func has(_ key: String) -> Bool {
        members.contains { $0.key == key && $0.value != .null }
    }

    /// The member named `key`, marked as used; nil when absent or `null` (null means "the default").
    func take(_ key: String) -> ConfigNode? {
        taken.insert(key)
        guard let member = members.first(where: { $0.key == key }), member.value != .null else { return nil }
        return ConfigNode(value: member.value, path: path.appending(key), context: context)
    }

    /// Decodes `key` with `read`, or returns `fallback` when it is absent or unreadable.
    func value<T>(_ key: String, default fallback: T, _ read: (ConfigNode) -> T?) -> T {
        guard let member = take(key) else { return fallback }
        return read(member) ?? fallback
    }

    /// Why a known key does not apply here, and which settings decided that.
    struct Inapplicable {
        let reason: String
        let decidedBy: [JSONPath]
    }

    /// Reports every member not taken. A key in `inapplicable` gets its reason; when it was
    /// inherited from the base and the variant changed what decided it, it is dropped silently
    /// (a variant switching to SGD does not inherit Adam's `betas`). Any other key is unknown.
    func finish(known: [String], inapplicable: [String: Inapplicable] = [:]) {
        for member in members where !taken.contains(member.key) && member.value != .null {
            let memberPath = path.appending(member.key)
            if let rule = inapplicable[member.key] {
                let inherited = !context.isOverridden(memberPath)
                if inherited && rule.decidedBy.contains(where: context.isOverridden) { continue }
                context.report(memberPath, "does not apply \(rule.reason); remove it")
                continue
            }
            var message = "unknown key"
            if let suggestion = ConfigObject.closest(to: member.key, among: known) {
                message += "; did you mean \"\(suggestion)\"?"
            }
            message += " Keys allowed here: " + known.joined(separator: ", ")
            context.report(memberPath, message, aboutTheKey: true)
        }
    }

    /// The known key nearest to `key` by edit distance (ignoring case), if it is near enough to
    /// be a typo: one edit for short keys, up to three for long ones.
    static func closest(to key: String, among known: [String]) -> String? {
        let lowered = Array(key.lowercased())
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = editDistance(lowered, Array(candidate.lowercased()))
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best, best.distance <= min(3, max(1, best.key.count / 3)) else { return nil }
        return best.key
    }

    /// Insertions, deletions, substitutions and swaps of neighbours (optimal string alignment),
    /// since `widht` for `width` is one slip of the fingers, not two.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
