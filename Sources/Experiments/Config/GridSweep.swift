/// A config's `grid`: lists of values for config keys named by dotted paths, swept as their
/// cartesian product. `{"grid": {"model.hiddenLayers": [3, 10], "model.weightStd": [1.0, 1.41]}}`
/// gives four cells, each the base config with those two keys set, decoded exactly as if written out.
///
/// Cells come in the order of nested loops over the axes as written: the first axis slowest, the
/// last fastest (`hiddenLayers3_weightStd1.0`, `hiddenLayers3_weightStd1.41`, `hiddenLayers10_...`).
/// A cell's name joins `<key><value>` per axis with `_`, the key being the path's last part (the
/// whole path, dots as `-`, when two axes end alike); numbers appear as written, strings as they are
/// with unsafe characters as `_`, `null` as `default`, lists and objects as `v<position>` (1-based).
public struct GridSweep: Sendable, Equatable {
    /// One swept key and its values.
    public struct Axis: Sendable, Equatable {
        /// The dotted path as written: `model.weightStd`.
        public let path: String
        /// The path's parts: `["model", "weightStd"]`.
        public let keys: [String]
        public let values: [JSONValue]
        /// The value parts of cell names, one per value: `1.41`, `relu`, `default`.
        public let labels: [String]
        /// The key part of cell names: `weightStd`.
        public let shortName: String
    }

    /// One point of the product: a value of every axis.
    public struct Cell: Sendable, Equatable {
        /// Position of the cell in the product (first axis slowest).
        public let index: Int
        /// Per axis, the position of this cell's value in the axis's list.
        public let valueIndices: [Int]
        /// `hiddenLayers3_weightStd1.41`.
        public let name: String
    }

    public let axes: [Axis]

    /// Every cell, first axis slowest.
    public var cells: [Cell] {
        var cells: [Cell] = []
        var indices = [Int](repeating: 0, count: axes.count)
        let total = axes.reduce(1) { $0 * $1.values.count }
        for index in 0..<total {
            let name = zip(axes, indices).map { axis, value in axis.shortName + axis.labels[value] }.joined(separator: "_")
            cells.append(Cell(index: index, valueIndices: indices, name: name))
            // Odometer step: the last axis turns fastest.
            for axis in axes.indices.reversed() {
                indices[axis] += 1
                if indices[axis] < axes[axis].values.count { break }
                indices[axis] = 0
            }
        }
        return cells
    }

    /// The value `cell` gives the axis at `path` (nil for a path that is not an axis).
    public func value(of path: String, in cell: Cell) -> JSONValue? {
        axes.firstIndex { $0.path == path }.map { axes[$0].values[cell.valueIndices[$0]] }
    }

    /// The cell's values as JSON paths and values, to be merged over the base (see
    /// ``ExperimentPlan/merge(override:into:at:written:)``).
    func assignments(of cell: Cell) -> [(axis: Int, path: JSONPath, override: JSONValue)] {
        axes.indices.map { position in
            let axis = axes[position]
            // {"model": {"weightStd": v}} for "model.weightStd": v, so objects merge as a variant's do.
            var override = axis.values[cell.valueIndices[position]]
            for key in axis.keys.reversed() { override = .object([JSONMember(key, override)]) }
            let path = axis.keys.reduce(JSONPath.root) { $0.appending($1) }
            return (position, path, override)
        }
    }

    /// The `grid` object as written (it is part of the resolved config).
    public var json: JSONValue {
        .object(axes.map { JSONMember($0.path, .array($0.values)) })
    }

    /// Top-level keys a grid may not sweep, and why.
    static let forbiddenRoots: [String: String] = [
        "name": "the run names come from the grid values",
        "seed": "list the seeds in the top-level \"seeds\" instead",
        "seeds": "list the seeds in the top-level \"seeds\" instead",
        "variants": "variants are listed at the top level; the grid sweeps inside each",
        "grid": "a grid cannot sweep itself",
    ]

    /// Decodes `"grid": {...}`: every problem is reported on `node` (path syntax, an empty or
    /// repeated value list, names that collide); nil when there is any.
    static func decode(_ node: ConfigNode) -> GridSweep? {
        guard let object = node.object() else { return nil }
        if object.members.isEmpty {
            node.report("expected at least one dotted path with a list of values, e.g. {\"model.width\": [64, 128]}; remove \"grid\" for no grid")
            return nil
        }
        var axes: [Axis] = []
        var failed = false
        for member in object.members {
            let memberNode = ConfigNode(value: member.value, path: node.path.appending(member.key), context: node.context)
            let keys = member.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if keys.contains(where: \.isEmpty) {
                memberNode.report("expected a dotted path of config keys such as \"model.weightStd\", found an empty part")
                failed = true
                continue
            }
            if let reason = forbiddenRoots[keys[0]] {
                memberNode.report("the grid cannot set \"\(keys[0])\": \(reason)")
                failed = true
                continue
            }
            guard let elements = memberNode.list() else { failed = true; continue }
            if elements.isEmpty {
                memberNode.report("expected at least one value, found an empty list")
                failed = true
                continue
            }
            let labels = elements.enumerated().map { label(for: $1.value, position: $0) }
            for (position, element) in elements.enumerated() {
                if let earlier = elements[..<position].firstIndex(where: { sameValue($0.value, element.value) }) {
                    element.report("the value \(element.found) is listed twice (also at [\(earlier)])")
                    failed = true
                } else if let earlier = labels[..<position].firstIndex(of: labels[position]) {
                    element.report("gives the same run name part \"\(labels[position])\" as [\(earlier)]; use values that differ in letters or digits")
                    failed = true
                }
            }
            axes.append(Axis(path: member.key, keys: keys, values: elements.map(\.value), labels: labels, shortName: keys.last!))
        }
        if failed { return nil }
        // Axes ending in the same key (`model.biasStd`, `training.biasStd`) are named by their whole path.
        let named = axes.map { axis in
            let shared = axes.filter { $0.shortName == axis.shortName }.count > 1
            return shared ? Axis(path: axis.path, keys: axis.keys, values: axis.values, labels: axis.labels,
                                 shortName: axis.keys.joined(separator: "-")) : axis
        }
        let grid = GridSweep(axes: named)
        if let long = grid.cells.first(where: { $0.name.count > 100 }) {
            node.report("the cell name \"\(long.name)\" would be longer than 100 characters; sweep fewer keys or shorter values")
            return nil
        }
        return grid
    }

    /// The value's part of a cell name.
    static func label(for value: JSONValue, position: Int) -> String {
        switch value {
        case .number(let literal): fileSafe(literal)
        case .string(let text): text.isEmpty ? "empty" : fileSafe(text)
        case .bool(let flag): flag ? "true" : "false"
        case .null: "default"
        case .array, .object: "v\(position + 1)"
        }
    }

    /// Equal JSON values, numbers by value (`1.0` and `1` are the same value).
    static func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        return a == b
    }
}
