import Experiments
import Foundation

/// One step into a JSON value: a member's key or a list index.
enum JSONStep: Equatable {
    case key(String)
    case index(Int)
}

extension JSONValue {
    /// The path of every value inside this one, this one first (as `[]`).
    var allPaths: [[JSONStep]] {
        var paths: [[JSONStep]] = [[]]
        switch self {
        case .object(let members):
            for member in members { paths += member.value.allPaths.map { [.key(member.key)] + $0 } }
        case .array(let elements):
            for (index, element) in elements.enumerated() { paths += element.allPaths.map { [.index(index)] + $0 } }
        default: break
        }
        return paths
    }

    /// This object with the member at a path of keys set, creating objects on the way as needed.
    func setting(_ keys: ArraySlice<String>, to newValue: JSONValue) -> JSONValue {
        guard let key = keys.first else { return newValue }
        guard case .object(var members) = self else { return self }
        if let position = members.firstIndex(where: { $0.key == key }) {
            members[position].value = members[position].value.setting(keys.dropFirst(), to: newValue)
        } else {
            members.append(JSONMember(key, JSONValue.object([]).setting(keys.dropFirst(), to: newValue)))
        }
        return .object(members)
    }

    func value(at path: ArraySlice<JSONStep>) -> JSONValue? {
        guard let step = path.first else { return self }
        switch (self, step) {
        case (.object(let members), .key(let key)): return members.first { $0.key == key }?.value.value(at: path.dropFirst())
        case (.array(let elements), .index(let index)) where elements.indices.contains(index):
            return elements[index].value(at: path.dropFirst())
        default: return nil
        }
    }

    /// This value with the value at `path` replaced by `replacement`, or removed when it is nil.
    func replacing(at path: ArraySlice<JSONStep>, with replacement: JSONValue?) -> JSONValue? {
        guard let step = path.first else { return replacement }
        switch (self, step) {
        case (.object(var members), .key(let key)):
            guard let position = members.firstIndex(where: { $0.key == key }) else { return self }
            if let changed = members[position].value.replacing(at: path.dropFirst(), with: replacement) {
                members[position].value = changed
            } else {
                members.remove(at: position)
            }
            return .object(members)
        case (.array(var elements), .index(let index)) where elements.indices.contains(index):
            if let changed = elements[index].replacing(at: path.dropFirst(), with: replacement) {
                elements[index] = changed
            } else {
                elements.remove(at: index)
            }
            return .array(elements)
        default:
            return self
        }
    }
}

/// Numbers that break careless size and range handling: negatives, zero, fractions, the edges
/// of `Int`, `UInt64` and exact `Double` integers, overflow to infinity, subnormals.
let hostileNumbers = [
    "-1", "0", "-0", "0.5", "1e-320", "4503599627370496", "4503599627370497", "9007199254740992", "9007199254740993",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615", "18446744073709551616",
    "1e15", "1e18", "1e300", "1e308", "1.7976931348623157e308", "1e309", "-1e999", "123456789012345678901234567890",
    "2147483648", "4294967296", "1000000000", "100000", "3.0000000000000004", "1E2", "-0.0", "1e-7",
]

/// Strings that break careless name and path handling.
let hostileStrings = [
    "", " ", "../escape", "a/b", "/abs", ".hidden", "\u{0}", "\n", "🙂", "infinite", "full", "none", "every", "train",
    "relu", "csv", "synthetic", "float16", "adamw", "NaN", "Infinity", "1e3", String(repeating: "x", count: 101),
    String(repeating: "é", count: 5000), "\u{FEFF}name", "name\u{301}",
]

/// Keys a config does not have, or has elsewhere: typos, the sweep keys in the wrong place.
let hostileKeys = ["widht", "learningrate", "epoch", "", "__proto__", "variants", "seeds", "seed", "name", "kind",
                   "Width", "layernorm", "batch_size", "curve", "random", "\u{0}", "🙂"]

extension FuzzRandom {
    /// A value of some kind, often of a kind other than the one it replaces.
    mutating func wrongTypeValue() -> JSONValue {
        pick([.null, .bool(true), .bool(false), .number("1"), .number("-3.5"), .string("x"), .array([]), .object([]),
              .array([.number("1"), .number("2")]), .object([JSONMember("k", .number("1"))]),
              .array([.string("a"), .null]), .string("1")])
    }

    /// Lists and objects nested around the limit the parser allows (200) and far beyond, as a
    /// placeholder string that ``expandingNesting(_:)`` replaces in the rendered text (a tree that
    /// deep would make every later mutation slow).
    mutating func deeplyNested() -> JSONValue {
        .string("@@nest-\(pick([50, 150, 198, 199, 200, 201, 1_000, 100_000]))@@")
    }

    /// The text with every nesting placeholder replaced by lists and objects nested that deep.
    static func expandingNesting(_ text: String) -> String {
        var result = text
        while let start = result.range(of: "\"@@nest-") {
            guard let end = result.range(of: "@@\"", range: start.upperBound..<result.endIndex),
                  let depth = Int(result[start.upperBound..<end.lowerBound]) else { break }
            var opening = "", closing = ""
            for level in 0..<depth {
                opening += level % 2 == 0 ? "[" : "{\"a\":"
                closing += level % 2 == 0 ? "]" : "}"
            }
            result.replaceSubrange(start.lowerBound..<end.upperBound, with: opening + "1" + String(closing.reversed()))
        }
        return result
    }

    /// A long list: of distinct numbers, of one repeated number, or of strings.
    mutating func longList() -> JSONValue {
        let count = pick([0, 1, 2, 300, 3_000])
        switch below(3) {
        case 0: return .array((0..<count).map { .number($0) })
        case 1: return .array(Array(repeating: .number("7"), count: count))
        default: return .array((0..<count).map { .string("c\($0)") })
        }
    }

    /// A setting the decoder knows, set to a hostile value (sizes that overflow or allocate,
    /// placements that depend on them, grids and curves of absurd length).
    mutating func hostileSetting() -> (path: [String], value: JSONValue) {
        let number = { (random: inout FuzzRandom) -> JSONValue in .number(random.pick(hostileNumbers)) }
        switch below(16) {
        case 0: return (["model", "hiddenLayers"], number(&self))
        case 1: return (["model", "width"], chance(0.2) ? .string("infinite") : number(&self))
        case 2:
            return (["model", "layerNorm"], pick([.string("every"), .string("last"), .string("first"), .string("none"),
                                                  .array([.number("0"), .number(pick(hostileNumbers))]),
                                                  .array([.number("1"), .number("1")])]))
        case 3: return (["data", "trainSize"], number(&self))
        case 4: return (["data", "inputDim"], number(&self))
        case 5: return (["training", "epochs"], number(&self))
        case 6: return (["training", "batchSize"], number(&self))
        case 7: return (["training", pick(["logEvery", "checkpointEvery"])], number(&self))
        case 8: return (["training", pick(["learningRate", "targetLoss", "momentum", "eps", "weightDecay"])], number(&self))
        case 9: return (["training", "betas"], .array([number(&self), number(&self)]))
        case 10: return (["evaluation", "lambdas"], .object([JSONMember(pick(["from", "to", "perDecade"]), number(&self))]))
        case 11: return (["evaluation", "directions"], .object([JSONMember("random", number(&self))]))
        case 12:
            return (["evaluation", "curve"], .object([JSONMember("from", number(&self)), JSONMember("to", number(&self)),
                                                      JSONMember("points", number(&self))]))
        case 13: return (["data", "domain"], .array([number(&self), number(&self)]))
        case 14: return (["seed"], number(&self))
        default: return (["model", pick(["weightStd", "biasStd"])], number(&self))
        }
    }

    /// `value` changed in one hostile way at one random place.
    mutating func mutate(_ value: JSONValue) -> JSONValue {
        let paths = value.allPaths
        let path = pick(paths)[...]
        switch below(11) {
        case 9, 10:
            let setting = hostileSetting()
            return value.setting(setting.path[...], to: setting.value)
        case 0:  // delete a key or a list element
            guard !path.isEmpty else { return value }
            return value.replacing(at: path, with: nil) ?? value
        case 1:
            return value.replacing(at: path, with: wrongTypeValue()) ?? value
        case 2, 3:  // hostile numbers, mostly where numbers are
            let numberPaths = paths.filter { if case .number? = value.value(at: $0[...]) { true } else { false } }
            let target = numberPaths.isEmpty ? path : pick(numberPaths)[...]
            return value.replacing(at: target, with: .number(pick(hostileNumbers))) ?? value
        case 4:
            let stringPaths = paths.filter { if case .string? = value.value(at: $0[...]) { true } else { false } }
            let target = stringPaths.isEmpty ? path : pick(stringPaths)[...]
            return value.replacing(at: target, with: .string(pick(hostileStrings))) ?? value
        case 5:  // an extra key in some object
            let objectPaths = paths.filter { if case .object? = value.value(at: $0[...]) { true } else { false } }
            guard !objectPaths.isEmpty else { return value }
            let target = pick(objectPaths)[...]
            guard case .object(var members)? = value.value(at: target) else { return value }
            let key = pick(hostileKeys)
            if members.contains(where: { $0.key == key }) { return value }
            members.insert(JSONMember(key, chance(0.5) ? wrongTypeValue() : .number(pick(hostileNumbers))),
                           at: below(members.count + 1))
            return value.replacing(at: target, with: .object(members)) ?? value
        case 6:
            return value.replacing(at: path, with: deeplyNested()) ?? value
        case 7:
            return value.replacing(at: path, with: longList()) ?? value
        default:  // a sweep: variants (themselves mutated later) and seeds
            guard case .object(var members) = value, !members.contains(where: { $0.key == "variants" }) else { return value }
            let variants: [JSONValue] = (0..<int(in: 1...3)).map { index in
                .object([JSONMember("name", .string(chance(0.9) ? "v\(index % 2)" : pick(hostileStrings))),
                         JSONMember("model", .object([JSONMember("layerNorm", .string(pick(["first", "every", "last", "none"])))])),
                         JSONMember("training", .object([JSONMember("epochs", .number(pick(["3", "0", "-1", "1e300"])))]))])
            }
            members.append(JSONMember("variants", .array(variants)))
            if chance(0.5) { members.append(JSONMember("seeds", .array([.number(0), .number(pick(["1", "0", "-1", "1.5"]))]))) }
            return .object(members)
        }
    }
}
