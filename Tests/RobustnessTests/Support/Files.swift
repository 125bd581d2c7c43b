import Experiments
import TestSupport
import Foundation

/// Whether a file name is one of `AtomicFile`'s temporary names (`<name>.tmp-<pid>-<random>`).
func isTemporaryName(_ name: String) -> Bool { name.contains(".tmp-") }

/// What is wrong with the files below a run folder: each must be complete and valid for its
/// kind (JSON that parses, safetensors that decode, CSV of numbers, a whole SVG document), or,
/// when `allowTemporaries`, a temporary file a killed writer left (never a torn final file).
/// Empty when everything is sound.
func runFolderProblems(_ folder: String, allowTemporaries: Bool) -> [String] {
    var problems: [String] = []
    for relative in filesBelow(folder) {
        let path = folder + "/" + relative
        let name = String(relative.split(separator: "/").last ?? "")
        if isTemporaryName(name) {
            if !allowTemporaries { problems.append("\(relative): temporary file left behind") }
            continue
        }
        do {
            if let problem = try fileProblem(path: path, name: name) { problems.append("\(relative): \(problem)") }
        } catch {
            problems.append("\(relative): \(error)")
        }
    }
    return problems
}

private func fileProblem(path: String, name: String) throws -> String? {
    if name.hasSuffix(".json") {
        let json = try JSONValue.parse(AtomicFile.readText(path))
        if name == "config.json" { _ = try ExperimentPlan.parse(json.rendered(), file: path, memoryLimitBytes: .infinity) }
        if name == "metrics.json" || name == "metrics-partial.json" {
            if RunMetrics(json: json) == nil { return "not a metrics file" }
        }
        return nil
    }
    if name.hasSuffix(".safetensors") {
        let file = try Safetensors.read(path)
        if name == "checkpoint.safetensors", file.metadata?["format"] != TrainingCheckpoint.format {
            return "checkpoint without its format metadata"
        }
        return nil
    }
    if name.hasSuffix(".csv") {
        let table = try CSVTable(text: AtomicFile.readText(path), file: path)
        for column in table.columnNames.indices where !["variant"].contains(table.columnNames[column]) {
            // kernel.csv leaves the distance to the analytic kernel empty where there is none.
            let mayBeEmpty = table.columnNames[column] == "kernel_distance_to_analytic"
            for (row, fields) in table.rows.enumerated()
            where Double(fields[column]) == nil && fields[column] != "nan" && !(mayBeEmpty && fields[column].isEmpty) {
                return "row \(table.lineNumbers[row]), column \(table.columnNames[column]): \"\(fields[column])\" is not a number"
            }
        }
        return nil
    }
    if name.hasSuffix(".svg") {
        let text = try AtomicFile.readText(path)
        return text.hasPrefix("<?xml") && text.hasSuffix("</svg>\n") ? nil : "not a whole SVG document"
    }
    return "unexpected file"
}

/// The file's bytes, or nil when it cannot be read.
func contentsOrNil(_ path: String) -> [UInt8]? { try? AtomicFile.read(path) }
