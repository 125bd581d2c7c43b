import Experiments
import Testing
import TestSupport

/// A fixed memory limit, so the outcome of a case does not depend on the machine.
let fuzzMemoryLimit = 8.0 * 1024 * 1024 * 1024

/// Valid configs the mutations start from: the shipped ones, a small CSV sweep and a tiny run.
let configSeeds: [String] = {
    var texts: [String] = []
    for name in ["ln.json", "no-ln.json", "paper-toy.json", "diabetes-shift.json", "protein.json"] {
        if let text = try? AtomicFile.readText(projectRoot + "/configs/" + name) { texts.append(text) }
    }
    texts.append(smallRunConfig)
    texts.append("""
        { "name": "everything", "seed": 18446744073709551615, "precision": "float32",
          "data": { "kind": "synthetic", "target": "quadratic", "inputDim": 3, "trainSize": 64, "domain": [-2, 0.5] },
          "model": { "hiddenLayers": 3, "width": 24, "activation": "gelu_tanh", "layerNorm": [0, 2], "layerNormAffine": false,
                     "parameterization": "ntk", "weightStd": 1.5, "biasStd": 0.05 },
          "training": { "optimizer": "sgd", "learningRate": 0.05, "momentum": 0.9, "weightDecay": 0.001, "epochs": 20,
                        "batchSize": 10, "targetLoss": 0.001, "checkpointEvery": 5, "logEvery": 2 },
          "evaluation": { "lambdas": { "from": 0.5, "to": 50, "perDecade": 3 }, "directions": { "random": 7 }, "curve": "none" },
          "variants": [ { "name": "adamw", "training": { "optimizer": "adamw", "betas": [0.8, 0.99], "eps": 1e-6 } },
                        { "name": "csv", "data": { "kind": "csv", "path": "d.csv", "features": ["a", "b"], "target": "y",
                                                   "split": { "column": "a", "below": 0, "validationFraction": 0.2 } } } ],
          "seeds": [1, 2] }
        """)
    return texts
}()

@Suite struct ConfigFuzzTests {
    static let cases = 1_000

    /// One fuzz case: a seed config, mutated in the JSON tree one to four times, then sometimes
    /// damaged as text (truncated, bytes flipped or spliced in, or replaced by random bytes).
    static func mutatedConfig(_ index: Int) -> String {
        var random = FuzzRandom(seed: 0xC0FF1C, case: index)
        let seedText = random.pick(configSeeds)
        guard var value = try? JSONValue.parse(seedText) else { return seedText }
        for _ in 0..<random.int(in: 1...4) { value = random.mutate(value) }
        var bytes = Array(FuzzRandom.expandingNesting(value.rendered(style: random.chance(0.5) ? .pretty : .compact)).utf8)
        if random.chance(0.3) {
            switch random.below(4) {
            case 0: bytes = random.truncate(bytes)
            case 1: bytes = random.flipBits(bytes)
            case 2: bytes = random.splice(bytes, interesting: Array("{}[]\",:0-.e\\/ \nnull".utf8))
            default: bytes = random.bytes(random.below(300))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every case is refused with a message naming the file on every line, or accepted as a
    /// plan whose runs fit the memory limit and whose resolved `config.json` reads back to the
    /// same runs. A trap anywhere would end the test process, so a pass also proves none happened.
    @Test(.timeLimit(.minutes(3))) func mutatedConfigsAreRefusedWithAMessageOrRoundTrip() throws {
        var outcomes = Outcomes()
        for index in 0..<Self.cases {
            outcomes.check(Self.mutatedConfig(index), label: "case \(index)")
        }
        print("config fuzz: \(Self.cases) mutated configs, \(outcomes)")
        #expect(outcomes.accepted > 50 && outcomes.refused > 500)
    }

    /// Every size setting at every hostile number, with LayerNorm after every hidden layer (its
    /// placement is a list as long as the network is deep) and without.
    @Test(.timeLimit(.minutes(1))) func hostileSizesAreRefusedOrFit() throws {
        let sizes: [[String]] = [
            ["model", "hiddenLayers"], ["model", "width"], ["data", "trainSize"], ["data", "inputDim"],
            ["training", "epochs"], ["training", "batchSize"], ["training", "logEvery"], ["training", "checkpointEvery"],
            ["evaluation", "lambdas", "perDecade"], ["evaluation", "lambdas", "to"], ["evaluation", "directions", "random"],
            ["evaluation", "curve", "points"],
        ]
        let base = try JSONValue.parse(smallRunConfig).setting(["training", "batchSize"], to: .string("full"))
        var outcomes = Outcomes()
        for path in sizes {
            for number in hostileNumbers {
                for layerNorm in ["every", "none"] {
                    let value = base.setting(path[...], to: .number(number)).setting(["model", "layerNorm"], to: .string(layerNorm))
                    outcomes.check(value.rendered(), label: "\(path.joined(separator: ".")) = \(number), layerNorm \(layerNorm)")
                }
            }
        }
        print("config fuzz: \(sizes.count * hostileNumbers.count * 2) hostile sizes, \(outcomes)")
    }

    /// Found by libFuzzer (scripts/fuzz config): a backslash before a raw newline in a string was
    /// quoted into the message as is, and so was a key holding an escaped newline, splitting one
    /// problem over two lines, the second without the file's name.
    @Test(arguments: ["{  \"seerision\": \"float6\\\\\\\\\\\\\\\n\0\0\0\0\0\0\0n\":}\n}\n",
                      #"{"a\nb": 1, "a\nb": 2}"#, #"{"a\nb" 1}"#, "{\"a\": \"\\\t\"}"])
    func everyProblemIsOneLineNamingTheFile(_ text: String) {
        var outcomes = Outcomes()
        outcomes.check(text, label: text)
        #expect(outcomes.refused == 1)
    }

    /// Found by the grid above: the memory estimate listed every LayerNorm position, so 2^52
    /// hidden layers with `"every"` asked for a 32 PB array and trapped.
    @Test func deepNetworkWithLayerNormEverywhereIsRefusedNamingTheDepth() {
        let text = #"{"model": {"hiddenLayers": 4503599627370496, "layerNorm": "every"}}"#
        let error = #expect(throws: ConfigError.self) {
            try ExperimentPlan.parse(text, file: "deep.json", memoryLimitBytes: fuzzMemoryLimit)
        }
        #expect(error?.description.hasPrefix("deep.json: model.hiddenLayers: this run needs about ") == true, "\(String(describing: error))")
        #expect(error?.description.hasSuffix("lower model.hiddenLayers") == true, "\(String(describing: error))")
    }
}

/// Counts the outcomes of fuzz cases and checks each one.
struct Outcomes: CustomStringConvertible {
    var accepted = 0, refused = 0

    var description: String { "\(accepted) accepted, \(refused) refused with a message" }

    mutating func check(_ text: String, label: String) {
        let file = "fuzz/case.json"
        do {
            let plan = try ExperimentPlan.parse(text, file: file, memoryLimitBytes: fuzzMemoryLimit)
            accepted += 1
            #expect(!plan.runs.isEmpty, "\(label)")
            for run in plan.runs {
                #expect(MemoryEstimate(config: run.config).totalBytes <= fuzzMemoryLimit, "\(label)")
            }
            let resolved = plan.resolvedJSON.rendered()
            do {
                let again = try ExperimentPlan.parse(resolved, file: file, memoryLimitBytes: fuzzMemoryLimit)
                #expect(again.runs.map(\.config) == plan.runs.map(\.config), "\(label): \(text)")
                #expect(again.runs.map(\.variant) == plan.runs.map(\.variant), "\(label)")
            } catch {
                Issue.record("\(label): the resolved config is refused: \(error)\n\(resolved)")
            }
        } catch {
            refused += 1
            let lines = error.description.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(!lines.isEmpty, "\(label)")
            for line in lines {
                #expect(line.hasPrefix(file + ": ") && line.count > file.count + 2, "\(label): \(line)")
            }
        }
    }
}
