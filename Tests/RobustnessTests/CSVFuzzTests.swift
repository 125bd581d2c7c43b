import Experiments
import Testing
import TestSupport

/// Valid CSV files the corruptions start from: a small table with a quoted field and CRLF line
/// ends, and the first 60 rows of the diabetes data set (all 442 make a debug build slow).
let csvSeeds: [String] = {
    var seeds = ["a,b,c,y,group\r\n" + (0..<12).map { "\($0),\(Double($0) * 0.5 - 2),\"\(($0 * 7) % 5)\",\($0 * $0),\($0 % 3)" }
        .joined(separator: "\r\n") + "\r\n"]
    if let diabetes = try? AtomicFile.readText(projectRoot + "/data/diabetes.csv") {
        seeds.append(diabetes.split(separator: "\n").prefix(61).joined(separator: "\n") + "\n")
    }
    return seeds
}()

/// Fields that are not numbers, or are numbers too large for what is done with them.
let hostileFields = ["", " ", "abc", "1.2.3", "0x10", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e308",
                     "-1e308", "1.7976931348623157e308", "1e-400", "\"1\"", "\"1,2\"", "\"", "\"\"\"", "1_000", "١٢", "+", "-",
                     ".", "e5", "5e", "--1", "1e+308", "3.4e39", "1e39", "-3.5e38", "\u{FEFF}1", "1e200", "-1e200", "\"a\"b"]

extension FuzzRandom {
    /// One corruption of a CSV text.
    mutating func corruptedCSV(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let line = below(lines.count)
        var fields = lines[line].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        switch below(10) {
        case 0, 1, 2:  // a hostile field
            fields[below(fields.count)] = pick(hostileFields)
            lines[line] = fields.joined(separator: ",")
        case 3:  // a whole column of huge values: standardizing it overflows
            let column = below(fields.count)
            let value = pick(["1e308", "-1.5e308", "1e200", "3e38", "1e39"])
            for index in 1..<lines.count where !lines[index].isEmpty {
                var row = lines[index].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                if column < row.count { row[column] = index % 2 == 0 ? value : "-" + value }
                lines[index] = row.joined(separator: ",")
            }
        case 4:  // a ragged row
            if chance(0.5) || fields.count < 2 { fields.append("1") } else { fields.remove(at: below(fields.count)) }
            lines[line] = fields.joined(separator: ",")
        case 5:  // rows removed, repeated, blanked
            switch below(4) {
            case 0: lines = Array(lines.prefix(1))
            case 1: lines.insert("", at: line)
            case 2: lines.insert(lines[line], at: line)
            default: lines.remove(at: line)
            }
        case 6:  // header names repeated, emptied, quoted
            var header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            header[below(header.count)] = pick(["", header[0], "\"a,b\"", " y ", "\"\"", "\"y\""])
            lines[0] = header.joined(separator: ",")
        case 7:
            return String(decoding: flipBits(Array(text.utf8)), as: UTF8.self)
        case 8:
            return String(decoding: chance(0.5) ? truncate(Array(text.utf8)) : splice(Array(text.utf8), interesting: Array(",\"\n\r 0.e-".utf8)),
                          as: UTF8.self)
        default:
            if chance(0.2) {  // very wide
                let width = 2_000
                return (0..<width).map { "c\($0)" }.joined(separator: ",") + "\n" + (0..<width).map { "\($0)" }.joined(separator: ",") + "\n"
            }
            return String(decoding: bytes(below(200)), as: UTF8.self)
        }
        return lines.joined(separator: "\n")
    }

    /// A data section asking for columns of the table (or for ones it does not have).
    mutating func csvConfig(columns: [String]) -> CSVDataConfig {
        let names = columns.isEmpty ? ["x"] : columns
        var features = (0..<int(in: 1...min(4, names.count))).map { _ in pick(names) }
        if chance(0.1) { features.append("missing") }
        var seen = Set<String>()
        features = features.filter { seen.insert($0).inserted }
        let target = chance(0.9) ? pick(names) : "zzz"
        features.removeAll { $0 == target }
        if features.isEmpty { features = [target == names[0] ? (names.count > 1 ? names[1] : "other") : names[0]] }
        var config = CSVDataConfig(path: "fuzz.csv", features: features, target: target, standardize: chance(0.7))
        if chance(0.5) {
            config.split = CovariateShiftSplit(column: pick(names), below: pick([0, 0.5, 3, 30, 1e308, -1e308]),
                                               validationFraction: pick([0, 0.1, 0.5, 0.99]))
        }
        return config
    }
}

@Suite struct CSVFuzzTests {
    static let cases = 400

    /// Every corrupted CSV is refused with a `CSVError` naming the file, or gives data sets whose
    /// every number is finite in the run's precision (a model trained on infinities would only
    /// report a divergence and blame the learning rate).
    @Test(.timeLimit(.minutes(2))) func corruptedCSVsAreRefusedOrGiveFiniteData() {
        var accepted = 0, refused = 0
        for index in 0..<Self.cases {
            var random = FuzzRandom(seed: 0xC5F, case: index)
            var text = random.pick(csvSeeds)
            for _ in 0..<random.int(in: 1...2) { text = random.corruptedCSV(text) }
            let file = "fuzz/case-\(index).csv"
            let float32 = random.chance(0.4)
            var columns: [String] = []
            do {
                let table = try CSVTable(text: text, file: file)
                columns = table.columnNames
                let config = random.csvConfig(columns: columns)
                if float32 {
                    check(try config.prepare(table, seed: UInt64(index), as: Float.self), index)
                } else {
                    check(try config.prepare(table, seed: UInt64(index), as: Double.self), index)
                }
                accepted += 1
            } catch {
                refused += 1
                #expect(error.description.hasPrefix(file + ": ") && error.description.count > file.count + 2, "case \(index): \(error)")
            }
        }
        print("csv fuzz: \(Self.cases) corrupted CSV files, \(accepted) accepted with finite data, \(refused) refused with a message")
        #expect(accepted > 20 && refused > 100)
    }

    /// Huge values in a feature, the target and the split column, with and without
    /// standardizing, in both precisions.
    @Test func hugeColumnsAreRefusedOrGiveFiniteData() throws {
        var accepted = 0, refused = 0
        for value in ["1e308", "1.5e308", "1e200", "1e39", "3.4e38"] {
            for column in ["a", "y", "group"] {
                let rows = (0..<8).map { row in
                    let values = ["a": "\(row)", "b": "\(row % 3)", "y": "\(row * 2)", "group": "\(row % 2)"]
                        .merging([column: (row % 2 == 0 ? "" : "-") + value]) { $1 }
                    return ["a", "b", "y", "group"].map { values[$0]! }.joined(separator: ",")
                }
                let table = try CSVTable(text: "a,b,y,group\n" + rows.joined(separator: "\n"), file: "huge.csv")
                for standardize in [true, false] {
                    let config = CSVDataConfig(path: "huge.csv", features: ["a", "b"], target: "y", standardize: standardize,
                                               split: CovariateShiftSplit(column: "group", below: 0.5, validationFraction: 0.25))
                    for float32 in [true, false] {
                        do {
                            if float32 {
                                check(try config.prepare(table, seed: 0, as: Float.self), 0)
                            } else {
                                check(try config.prepare(table, seed: 0, as: Double.self), 0)
                            }
                            accepted += 1
                        } catch {
                            refused += 1
                            #expect(error.description.hasPrefix("huge.csv: "), "\(error)")
                        }
                    }
                }
            }
        }
        #expect(accepted > 0 && refused > 0)
    }

    /// Found by the fuzzing above: standardizing a column of +-1e200 overflowed its variance,
    /// and the scale silently fell back to 1, so the values reached the network unscaled.
    @Test func aColumnTooLargeToStandardizeIsRefusedByName() throws {
        let table = try CSVTable(text: "x,y\n1e200,1\n-1e200,2\n3,3\n", file: "big.csv")
        let error = #expect(throws: CSVError.self) {
            try CSVDataConfig(path: "big.csv", features: ["x"], target: "y").prepare(table, seed: 0, as: Double.self)
        }
        #expect(error?.description == "big.csv: \"x\" (column 1): the values are too large to standardize: their mean or "
            + "spread overflows a Double; rescale the column")
        // Unstandardized, they are numbers a Double holds.
        let data = try CSVDataConfig(path: "big.csv", features: ["x"], target: "y", standardize: false)
            .prepare(table, seed: 0, as: Double.self)
        #expect(data.train.inputs.scalars == [1e200, -1e200, 3])
    }

    @Test func aValueBeyondFloat32IsRefusedWithRowAndColumn() throws {
        let table = try CSVTable(text: "x,y\n1,1\n2,2\n1e39,3\n", file: "wide.csv")
        let config = CSVDataConfig(path: "wide.csv", features: ["x"], target: "y", standardize: false)
        let error = #expect(throws: CSVError.self) { try config.prepare(table, seed: 0, as: Float.self) }
        #expect(error?.description == "wide.csv: row 4, \"x\" (column 1): 1e+39 does not fit in float32; rescale the column "
            + "or use \"precision\": \"float64\"")
        #expect(try config.prepare(table, seed: 0, as: Double.self).train.inputs.scalars == [1, 2, 1e39])
    }

    func check<Scalar: BLASScalar>(_ data: ExperimentData<Scalar>, _ index: Int) {
        #expect(data.train.count > 0, "case \(index)")
        for set in [data.train, data.validation, data.test].compactMap({ $0 }) {
            #expect(set.inputs.scalars.allSatisfy(\.isFinite) && set.targets.scalars.allSatisfy(\.isFinite),
                    "case \(index): a data set holds infinities or NaN")
        }
    }
}
