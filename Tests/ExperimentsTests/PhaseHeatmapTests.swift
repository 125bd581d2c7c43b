import Glibc
import Testing
@testable import Experiments
import TestSupport

@Suite struct PhaseHeatmapTests {
    static func heatmap(values: [[Double]], curve: [(x: Double, y: Double)] = []) -> PhaseHeatmap {
        // Two panels of 2 rows x 3 columns; the second panel has one diverged cell.
        let diverged = [[false, false, false], [false, false, true]]
        return PhaseHeatmap(title: "t", metric: "min_loss", xLabel: "model.weightStd", yLabel: "model.hiddenLayers",
                            xLabels: ["1.0", "1.41", "2.0"], yLabels: ["3", "10"], xCoordinates: [1.0, 1.41, 2.0], yCoordinates: [3, 10],
                            panels: [.init(title: "a", values: values, diverged: [[false, false, false], [false, false, false]], curve: curve),
                                     .init(title: "b", values: values, diverged: diverged, curve: curve)])
    }

    /// Well-formed SVG, one rectangle per cell of every panel, two strokes per crossed cell, the
    /// curve drawn, and the scale named in the legend.
    @Test func drawsEveryCellTheCrossesAndTheCurve() {
        let map = Self.heatmap(values: [[1, 2, 3], [4, 5, 6]], curve: [(1.2, 3), (1.7, 10)])
        #expect(!map.usesLogScale)
        let check = XMLCheck(map.svg)
        #expect(check.problems.isEmpty && check.roots == ["svg"], "\(check.problems)")
        #expect(check.elements.filter { $0.name == "rect" && $0.attributes["class"] == "cell" }.count == 12)
        #expect(check.elements.filter { $0.name == "line" && $0.attributes["stroke"] == "#ffffff" }.count == 2)
        let curves = check.elements.filter { $0.name == "polyline" }
        #expect(curves.count == 2)
        #expect(check.elements.contains { $0.name == "text" && $0.text.contains("colour: linear scale") && $0.text.contains("diverged (1 cell)") })
        // Tick labels are the values as written.
        #expect(check.elements.contains { $0.name == "text" && $0.text == "1.41" })
    }

    /// More than two decades: log2 colours, powers of two on the colour bar, said in the legend;
    /// NaN cells grey.
    @Test func switchesToLog2OverDecades() {
        let map = Self.heatmap(values: [[1e-4, 1e-2, 1], [10, .nan, 100]])
        #expect(map.usesLogScale)
        let check = XMLCheck(map.svg)
        #expect(check.problems.isEmpty)
        #expect(check.elements.contains { $0.name == "text" && $0.text.contains("log2 scale") })
        #expect(check.elements.contains { $0.name == "text" && $0.text.hasPrefix("2") && $0.text.contains("\u{2212}") })
        #expect(check.elements.filter { $0.attributes["class"] == "cell" && $0.attributes["fill"] == "#bbbbbb" }.count == 2)
        // Colours follow log2 of the values between the least and the greatest.
        let low = log2(1e-4), high = log2(100.0)
        let cells = check.elements.filter { $0.attributes["class"] == "cell" }
        #expect(cells[0].attributes["fill"] == KernelHeatmap.color(low, low: low, high: high))
        #expect(cells[2].attributes["fill"] == KernelHeatmap.color(log2(1.0), low: low, high: high))
    }

    /// Curve points go to cell units by linear interpolation between cell centres.
    @Test func curvePositionsInterpolateBetweenCellCentres() {
        let values = [1.0, 1.41, 2.0]
        #expect(PhaseHeatmap.position(1.0, among: values) == 0.5)
        #expect(PhaseHeatmap.position(1.41, among: values) == 1.5)
        #expect(abs(PhaseHeatmap.position(1.705, among: values)! - 2.0) < 1e-12)
        // Half a step beyond the ends, by the end segment's slope.
        #expect(abs(PhaseHeatmap.position(0.795, among: values)! - 0.0) < 1e-12)
        #expect(abs(PhaseHeatmap.position(3, among: [3, 10, 20])! - 0.5) < 1e-12)
        #expect(abs(PhaseHeatmap.position(15, among: [3, 10, 20])! - 2.0) < 1e-12)
        // Descending axes too.
        #expect(abs(PhaseHeatmap.position(15, among: [20, 10, 3])! - 1.0) < 1e-12)
        #expect(PhaseHeatmap.position(.nan, among: values) == nil)
    }
}
