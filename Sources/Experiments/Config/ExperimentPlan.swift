/// A config file read and checked: the base config, its variants and seeds, and the runs they
/// expand to (every variant on every seed).
///
/// A config file is one run's config, optionally with two more top-level keys:
/// - `variants`: a list of partial overrides of the base, each with a `name`. Objects merge key
///   by key, anything else (numbers, strings, lists) replaces the base's value, and `null` removes
///   the base's value so the default applies. A variant that changes what decides a key's meaning
///   (`optimizer`, `data.kind`, `layerNorm`, ...) does not inherit base keys that no longer apply.
/// - `seeds`: a list of seeds; every variant (or the base, without variants) runs on each.
/// - `grid`: lists of values for keys named by dotted paths (``GridSweep``); every variant (or the
///   base) runs on every cell of their product, on every seed. A variant may not set a key the grid
///   sweeps (the grid would silently win). The base must be a valid config on its own.
public struct ExperimentPlan: Sendable {
    /// A named partial override of the base config.
    public struct Variant: Sendable {
        public let name: String
        /// The override as written (without its `name`).
        public let override: JSONValue
        /// The base with the override merged in, defaults filled, checked.
        public let config: ExperimentConfig
    }

    /// One training run to do.
    public struct Run: Sendable {
        /// The run's label in reports and folder names: the variant's name, the grid cell's name, or
        /// both as `<variant>.<cell>`; nil for a config with neither.
        public let variant: String?
        public let seed: UInt64
        /// The run's full config; its `seed` is `seed`.
        public let config: ExperimentConfig
        /// The variant's own name, without the grid cell.
        public var variantName: String? = nil
        /// The grid cell, for a grid sweep.
        public var cell: GridSweep.Cell? = nil
    }

    /// A variant (or the base) on one grid cell, decoded.
    public struct GridPoint: Sendable {
        public let variant: String?
        public let cell: GridSweep.Cell
        public let config: ExperimentConfig
        /// `<variant>.<cell>`, or the cell's name without variants.
        public var label: String { variant.map { "\($0).\(cell.name)" } ?? cell.name }
    }

    /// The config file as the user named it.
    public let file: String
    /// The config without its variants: the only run when there are no variants.
    public let base: ExperimentConfig
    public let variants: [Variant]
    /// The `seeds` list, or nil when the file had none (runs then use each config's `seed`).
    public let seeds: [UInt64]?
    /// The `grid`, or nil when the file had none.
    public var grid: GridSweep? = nil
    /// With a grid: every variant (or the base) on every cell, variant by variant, cells in grid order.
    public var gridPoints: [GridPoint] = []

    /// Every variant (on every grid cell) on every seed, variant by variant, then cell by cell; the
    /// base alone when there are neither variants nor a grid.
    public var runs: [Run] {
        let configs: [(label: String?, variant: String?, cell: GridSweep.Cell?, config: ExperimentConfig)] =
            grid != nil ? gridPoints.map { ($0.label, $0.variant, $0.cell, $0.config) }
            : variants.isEmpty ? [(nil, nil, nil, base)] : variants.map { ($0.name, $0.name, nil, $0.config) }
        return configs.flatMap { label, variant, cell, config in
            (seeds ?? [config.seed]).map { seed in
                var seeded = config
                seeded.seed = seed
                return Run(variant: label, seed: seed, config: seeded, variantName: variant, cell: cell)
            }
        }
    }

    /// Reads, checks and expands a config file.
    /// - Parameters:
    ///   - path: the file; its name without `.json` is the default run name.
    ///   - memoryLimitBytes: refuse runs estimated to need more (default: this machine's memory).
    /// - Throws: ``ConfigError`` listing every problem, each with the file and JSON path.
    public static func load(path: String, memoryLimitBytes: Double? = nil) throws(ConfigError) -> ExperimentPlan {
        let text: String
        do {
            text = try AtomicFile.readText(path)
        } catch let error as FileError {
            throw ConfigError(file: path, location: nil, problem: "cannot read the config: \(error.problem)")
        } catch {
            throw ConfigError(file: path, location: nil, problem: "cannot read the config: \(error)")
        }
        return try parse(text, file: path, memoryLimitBytes: memoryLimitBytes)
    }

    /// Checks and expands config text; `file` names it in errors and gives the default run name.
    public static func parse(_ text: String, file: String, memoryLimitBytes: Double? = nil) throws(ConfigError) -> ExperimentPlan {
        let root: JSONValue
        do {
            root = try JSONValue.parse(text)
        } catch {
            throw ConfigError(file: file, location: error.location?.description, problem: error.problem)
        }
        let limit = memoryLimitBytes ?? MemoryEstimate.availableBytes()
        let baseContext = DecodingContext()
        let rootNode = ConfigNode(value: root, path: .root, context: baseContext)
        guard case .object(let members) = root else {
            throw ConfigError(file: file, location: nil, problem: "expected a JSON object { ... } at the top, found \(rootNode.found)")
        }
        let baseValue = JSONValue.object(members.filter { !["variants", "seeds", "grid"].contains($0.key) })
        let base = ExperimentConfig.decode(ConfigNode(value: baseValue, path: .root, context: baseContext),
                                           defaultName: defaultName(forFile: file))
        let rootObject = ConfigObject(node: rootNode, members: members)
        let seeds = rootObject.take("seeds").flatMap(decodeSeeds)
        let grid = rootObject.take("grid").flatMap(GridSweep.decode)
        if baseContext.problems.isEmpty, let problem = MemoryEstimate(config: base).check(limitBytes: limit) {
            baseContext.report(problem)
        }
        // Variants are checked only over a sound base, so a base mistake is reported once.
        guard baseContext.problems.isEmpty else { throw ConfigError(file: file, problems: baseContext.problems) }

        var variants: [Variant] = []
        var problems: [ConfigProblem] = []
        var variantOverrides: [JSONValue] = []
        if let variantsNode = rootObject.take("variants"), let list = variantsNode.list() {
            if list.isEmpty {
                variantsNode.report("expected at least one variant; remove \"variants\" for a single run")
            }
            for (index, node) in list.enumerated() {
                guard let variant = decodeVariant(node, index: index, base: baseValue, seeds: seeds, grid: grid, file: file,
                                                  limit: limit, problems: &problems) else { continue }
                variantOverrides.append(variant.override)
                if variants.contains(where: { $0.name == variant.name }) {
                    problems.append(ConfigProblem(location: "variants[\(index)].name",
                                                  problem: "the name \"\(variant.name)\" is used by an earlier variant"))
                }
                variants.append(variant)
            }
        }
        problems = baseContext.problems + problems
        guard problems.isEmpty else { throw ConfigError(file: file, problems: problems) }
        var plan = ExperimentPlan(file: file, base: base, variants: variants, seeds: seeds)
        if let grid {
            // Cells are decoded only over sound variants, so a variant's mistake is reported once.
            let sources: [(variant: (index: Int, name: String, override: JSONValue)?, value: JSONValue)] = variants.isEmpty
                ? [(nil, baseValue)]
                : variants.enumerated().map { index, variant in
                    var written: Set<JSONPath> = []
                    return ((index, variant.name, variant.override),
                            merge(override: variant.override, into: baseValue, at: .root, written: &written))
                }
            for source in sources {
                for cell in grid.cells {
                    if let point = decodeGridPoint(cell, of: grid, over: source.value, variant: source.variant, file: file,
                                                   limit: limit, problems: &problems) {
                        plan.gridPoints.append(point)
                    }
                }
            }
            plan.grid = grid
            // The same mistake in many cells is one problem.
            var unique: [ConfigProblem] = []
            for problem in problems where !unique.contains(problem) { unique.append(problem) }
            guard unique.isEmpty else { throw ConfigError(file: file, problems: unique) }
        }
        return plan
    }

    /// One grid cell over the base or a variant: the cell's values merged in axis by axis, then
    /// decoded as any config, so a grid value is checked exactly as if it were written out.
    static func decodeGridPoint(_ cell: GridSweep.Cell, of grid: GridSweep, over source: JSONValue,
                                variant: (index: Int, name: String, override: JSONValue)?, file: String, limit: Double,
                                problems: inout [ConfigProblem]) -> GridPoint? {
        var merged = source
        var writes: [DecodingContext.GridCellSource.Write] = []
        for assignment in grid.assignments(of: cell) {
            var written: Set<JSONPath> = []
            merged = merge(override: assignment.override, into: merged, at: .root, written: &written)
            writes.append(.init(axis: grid.axes[assignment.axis].path, valueIndex: cell.valueIndices[assignment.axis],
                                writtenPaths: written))
        }
        var variantSource: DecodingContext.VariantSource?
        if let variant {
            var variantWritten: Set<JSONPath> = []
            _ = merge(override: variant.override, into: source, at: .root, written: &variantWritten)
            for assignment in grid.assignments(of: cell) {
                if let clash = variantWritten.first(where: { $0.hasPrefix(assignment.path) || assignment.path.hasPrefix($0) }) {
                    problems.append(ConfigProblem(
                        location: "variants[\(variant.index)].\(clash)",
                        problem: "the grid sweeps \"\(grid.axes[assignment.axis].path)\", so a variant cannot set it; remove it from the variant or from the grid"))
                }
            }
            variantSource = .init(index: variant.index, name: variant.name, writtenPaths: variantWritten)
        }
        let context = DecodingContext(variant: variantSource, gridCell: .init(name: cell.name, writes: writes))
        let config = ExperimentConfig.decode(ConfigNode(value: merged, path: .root, context: context),
                                             defaultName: defaultName(forFile: file))
        if context.problems.isEmpty, let problem = MemoryEstimate(config: config).check(limitBytes: limit) {
            context.report(ConfigProblem(location: problem.location, problem: "\(problem.problem) (grid cell \"\(cell.name)\")"))
        }
        problems += context.problems
        guard context.problems.isEmpty else { return nil }
        return GridPoint(variant: variant?.name, cell: cell, config: config)
    }

    static func decodeSeeds(_ node: ConfigNode) -> [UInt64]? {
        guard let elements = node.list() else { return nil }
        if elements.isEmpty {
            node.report("expected at least one seed, found an empty list")
            return nil
        }
        var seeds: [UInt64] = []
        for element in elements {
            guard let seed = element.value.unsignedIntegerValue else {
                element.report("expected an integer from 0 to \(UInt64.max), found \(element.found)")
                continue
            }
            if seeds.contains(seed) {
                element.report("the seed \(seed) is listed twice")
            } else {
                seeds.append(seed)
            }
        }
        return seeds
    }

    static func decodeVariant(_ node: ConfigNode, index: Int, base: JSONValue, seeds: [UInt64]?, grid: GridSweep?, file: String,
                              limit: Double, problems: inout [ConfigProblem]) -> Variant? {
        let path = "variants[\(index)]"
        guard case .object(let members) = node.value else {
            problems.append(ConfigProblem(location: path, problem: "expected an object with a \"name\" and overrides, found \(node.found)"))
            return nil
        }
        let nameContext = DecodingContext()
        guard let nameNode = members.first(where: { $0.key == "name" }) else {
            problems.append(ConfigProblem(location: path, problem: "missing \"name\"; every variant needs a name"))
            return nil
        }
        guard let name = decodeRunName(ConfigNode(value: nameNode.value, path: node.path.appending("name"), context: nameContext)) else {
            problems += nameContext.problems
            return nil
        }
        var override: [JSONMember] = []
        for member in members where member.key != "name" {
            if member.key == "variants" || member.key == "seeds" || member.key == "grid" {
                problems.append(ConfigProblem(location: "\(path).\(member.key)",
                                              problem: "a variant cannot hold \"\(member.key)\"; put it at the top level"))
            } else if member.key == "seed" && seeds != nil {
                problems.append(ConfigProblem(location: "\(path).seed",
                                              problem: "the top-level \"seeds\" already gives every variant its seeds; remove this \"seed\""))
            } else {
                override.append(member)
            }
        }
        var written: Set<JSONPath> = []
        let merged = merge(override: .object(override), into: base, at: .root, written: &written)
        let context = DecodingContext(variant: .init(index: index, name: name, writtenPaths: written))
        let config = ExperimentConfig.decode(ConfigNode(value: merged, path: .root, context: context),
                                             defaultName: defaultName(forFile: file))
        if context.problems.isEmpty, let problem = MemoryEstimate(config: config).check(limitBytes: limit) {
            context.report(ConfigProblem(location: problem.location, problem: "\(problem.problem) (variant \"\(name)\")"))
        }
        problems += context.problems
        return Variant(name: name, override: .object(override), config: config)
    }

    /// `override` merged into `base`: objects key by key, `null` removes, anything else replaces.
    /// `written` collects the paths the override set or removed.
    static func merge(override: JSONValue, into base: JSONValue, at path: JSONPath, written: inout Set<JSONPath>) -> JSONValue {
        guard case .object(let overrideMembers) = override, case .object(var members) = base else {
            written.insert(path)
            return override
        }
        for member in overrideMembers {
            let memberPath = path.appending(member.key)
            let existing = members.firstIndex { $0.key == member.key }
            if member.value == .null {
                written.insert(memberPath)
                if let existing { members.remove(at: existing) }
            } else if let existing {
                members[existing].value = merge(override: member.value, into: members[existing].value, at: memberPath, written: &written)
            } else {
                written.insert(memberPath)
                members.append(member)
            }
        }
        return .object(members)
    }

    /// The smallest override that turns `base` into `target` under ``merge(override:into:at:written:)``:
    /// differing values, with `null` for keys only the base has. Nil when they are equal.
    static func difference(from base: JSONValue, to target: JSONValue) -> JSONValue? {
        guard case .object(let baseMembers) = base, case .object(let targetMembers) = target else {
            return base == target ? nil : target
        }
        var members: [JSONMember] = []
        for member in targetMembers {
            if let baseValue = base[member.key] {
                if let change = difference(from: baseValue, to: member.value) { members.append(JSONMember(member.key, change)) }
            } else {
                members.append(member)
            }
        }
        for member in baseMembers where target[member.key] == nil {
            members.append(JSONMember(member.key, .null))
        }
        return members.isEmpty ? nil : .object(members)
    }

    /// The config resolved, for `config.json`: the base with every default filled in, each
    /// variant as the smallest override of that base giving its resolved config, and the seeds.
    /// Loading this text gives the same runs.
    public var resolvedJSON: JSONValue {
        guard case .object(var members) = base.json else { fatalError("a config's JSON is an object") }
        if !variants.isEmpty {
            let variantValues: [JSONValue] = variants.map { variant in
                var overrideMembers = [JSONMember("name", .string(variant.name))]
                if case .object(let changes)? = ExperimentPlan.difference(from: base.json, to: variant.config.json) {
                    overrideMembers += changes
                }
                return .object(overrideMembers)
            }
            members.append(JSONMember("variants", .array(variantValues)))
        }
        if let seeds { members.append(JSONMember("seeds", .array(seeds.map { .number($0) }))) }
        if let grid { members.append(JSONMember("grid", grid.json)) }
        return .object(members)
    }

    /// Writes ``resolvedJSON`` to `path` (the run folder's `config.json`) atomically.
    public func writeResolvedConfig(to path: String) throws(FileError) {
        try writeJSON(resolvedJSON, to: path)
    }

    /// The file name without its folder and `.json`, made safe as a run name.
    static func defaultName(forFile file: String) -> String {
        var name = String(file.split(separator: "/").last ?? "run")
        if name.hasSuffix(".json") { name.removeLast(5) }
        let safe = String(name.map { character -> Character in
            isSafeName(String(character)) || character == "." ? character : "-"
        })
        return isSafeName(safe) ? safe : "run"
    }
}
