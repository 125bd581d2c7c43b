import Glibc
import Synchronization
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

/// phase.csv's rows and the heatmap's cells from synthetic run metrics: grid order, seeds averaged,
/// any diverged seed crosses the cell, a third axis makes panels, and a curve source is asked once
/// per panel with the panel's axes and config.
@Suite struct PhaseTableTests {
    static func metrics(_ run: ExperimentPlan.Run, loss: Double, diverged: Bool = false, stoppedEarly: Bool = false) -> RunMetrics {
        RunMetrics(name: "p", variant: run.variant, seed: run.seed, precision: .float64, threads: 1, wallTimeSeconds: 0,
                   lossCurve: [LossRecord(epoch: 0, loss: 1000), LossRecord(epoch: 5, loss: loss)], finalTrainLoss: diverged ? .infinity : loss,
                   epochsRun: diverged ? 3 : 5, extrapolation: ExtrapolationTable(points: []), stoppedEarly: diverged ? nil : stoppedEarly,
                   divergence: diverged ? "training diverged" : nil)
    }

    @Test func rowsCellsPanelsAndCurveRequests() throws {
        let sweep = try plan(#"""
        {"model": {"weightInit": "normal", "weightStd": 1.0, "width": 8}, "seeds": [0, 1],
         "grid": {"model.hiddenLayers": [2, 4], "model.weightStd": [1.0, 2.0, 3.0], "model.biasStd": [0.1, 1.0]}}
        """#)
        let runs = sweep.runs
        #expect(runs.count == 24)
        // Loss: 100 * hiddenLayers + 10 * weightStd + biasStd, plus the seed; the last cell's seed 1 diverges.
        let rows = runs.enumerated().map { index, run in
            let model = run.config.model
            let loss = 100 * Double(model.hiddenLayers) + 10 * model.weightStd! + model.biasStd! + Double(run.seed)
            return PhaseRow(run: run, metrics: Self.metrics(run, loss: loss, diverged: index == 23, stoppedEarly: index == 0))
        }
        let table = PhaseTable(grid: sweep.grid!, rows: rows, hasVariants: false)
        let lines = table.csv.split(separator: "\n").map(String.init)
        #expect(lines[0] == "model.hiddenLayers,model.weightStd,model.biasStd,seed,min_loss,final_loss,epochs,stop_reason,growth_exponent,"
              + "chi_1,phase,dispersion_ratio,kernel_change")
        // ReLU: chi_1 = sigma_w^2 / 2 whatever sigma_b.
        #expect(lines[1] == "2,1.0,0.1,0,210.1,210.1,5,target_loss,nan,0.5,ordered,nan,nan")
        #expect(lines[2] == "2,1.0,0.1,1,211.1,211.1,5,completed,nan,0.5,ordered,nan,nan")
        // Diverged: the least loss recorded before the blow-up.
        #expect(lines[24] == "4,3.0,1.0,1,432,inf,3,diverged,nan,4.5,chaotic,nan,nan")

        let finalLoss = PhaseTable.metricColumns.first { $0.name == "final_loss" }!
        let requests = Mutex<[PhaseHeatmap.CurveRequest]>([])
        let map = table.heatmap(of: finalLoss) { request in
            requests.withLock { $0.append(request) }
            return [(x: 1.5, y: 2), (x: 2.5, y: 4)]
        }
        #expect(map.xLabels == ["1.0", "2.0", "3.0"] && map.yLabels == ["2", "4"])
        #expect(map.panels.map(\.title) == ["biasStd = 0.1", "biasStd = 1.0"])
        // Mean over the two seeds: loss + 0.5; the diverged seed's infinity is left out of the mean.
        #expect(map.panels[0].values == [[210.6, 220.6, 230.6], [410.6, 420.6, 430.6]])
        #expect(map.panels[1].values[1][2] == 431)
        #expect(map.panels[1].diverged[1][2] && map.panels[1].diverged.flatMap { $0 }.filter { $0 }.count == 1)
        let asked = requests.withLock { $0 }
        #expect(asked.count == 2)
        #expect(asked.map(\.xAxis) == ["model.weightStd", "model.weightStd"] && asked.map(\.yAxis) == ["model.hiddenLayers", "model.hiddenLayers"])
        #expect(asked.map(\.config.model.biasStd) == [0.1, 1.0])
        #expect(asked[0].xValues == [1, 2, 3] && asked[0].yValues == [2, 4])
        #expect(map.panels.allSatisfy { $0.curve.count == 2 })
    }

    @Test func outcomes() {
        let run = ExperimentPlan.Run(variant: nil, seed: 0, config: ExperimentConfig(name: "x"))
        #expect(RunOutcome(Self.metrics(run, loss: 1)) == .completed)
        #expect(RunOutcome(Self.metrics(run, loss: 1, stoppedEarly: true)) == .targetLoss)
        #expect(RunOutcome(Self.metrics(run, loss: 1, diverged: true)) == .diverged)
        var earlyStop = Self.metrics(run, loss: 1, stoppedEarly: true)
        earlyStop.stopReason = .earlyStop
        #expect(RunOutcome(earlyStop) == .earlyStop)
        var divergedAtTheEnd = Self.metrics(run, loss: 1)
        divergedAtTheEnd.stopReason = .diverged
        #expect(RunOutcome(divergedAtTheEnd) == .diverged)
        var failed = Self.metrics(run, loss: 1)
        failed.failure = "unusable"
        #expect(RunOutcome(failed) == .failed)
        var infinite = Self.metrics(run, loss: 1)
        infinite.infiniteWidth = InfiniteWidthFit(jitter: 0)
        #expect(RunOutcome(infinite) == .notTrained)
    }

    /// The chi_1 = 1 line: against sigma_b on y it follows sqrt(critical sigma_w^2(sigma_b^2)) (tanh at
    /// sigma_b^2 = 1: 3.443, the issue's value); against depth it is vertical at the panel's sigma_b.
    @Test func edgeOfChaosLine() throws {
        var config = ExperimentConfig(name: "x")
        config.model.activation = .tanh
        config.model.weightInit = .normal
        config.model.biasInit = .normal
        config.model.biasStd = 1
        let byBias = try #require(PhaseTable.edgeOfChaos(.init(xAxis: "model.weightStd", yAxis: "model.biasStd",
                                                                xValues: [1, 2], yValues: [0.5, 1], config: config)))
        #expect(byBias.count == 33 && byBias.first!.y == 0.5 && byBias.last!.y == 1)
        #expect(abs(byBias.last!.x * byBias.last!.x - 3.443) < 1e-3)
        let byDepth = try #require(PhaseTable.edgeOfChaos(.init(xAxis: "model.weightStd", yAxis: "model.hiddenLayers",
                                                                 xValues: [1, 2], yValues: [5, 40], config: config)))
        #expect(byDepth.count == 2 && byDepth[0].x == byDepth[1].x && byDepth.map(\.y) == [5, 40])
        #expect(abs(byDepth[0].x * byDepth[0].x - 3.443) < 1e-3)
        // PyTorch's default bias has no fixed sigma_b: no line, and no chi_1.
        config.model.biasInit = .pytorch
        #expect(PhaseTable.edgeOfChaos(.init(xAxis: "model.weightStd", yAxis: "model.biasStd", xValues: [1], yValues: [1],
                                             config: config)) == nil)
        #expect(config.model.meanField == nil)
    }
}
