import Glibc
import Testing
@testable import Experiments
import TestSupport

let diabetesPath = projectRoot + "/data/diabetes.csv"

@Suite struct SyntheticDataTests {
    @Test func sameSeedSameDataOtherSeedOtherData() {
        let config = SyntheticDataConfig(target: .sin, inputDim: 3, trainSize: 50, domain: Interval(lower: -2, upper: 1))
        let first: Dataset<Double> = config.makeDataset(seed: 4)
        let again: Dataset<Double> = config.makeDataset(seed: 4)
        let other: Dataset<Double> = config.makeDataset(seed: 5)
        #expect(first.inputs == again.inputs && first.targets == again.targets)
        #expect(first.inputs != other.inputs)
        #expect(first.inputs.shape == [50, 3] && first.targets.shape == [50, 1])
        #expect(first.inputs.scalars.allSatisfy { $0 >= -2 && $0 < 1 })
        // Uniform on [-2, 1): the mean is near -0.5.
        #expect(abs(first.inputs.mean() + 0.5) < 0.2)
    }

    @Test(arguments: SyntheticTarget.allCases) func targetsAreTheDocumentedFunctions(_ target: SyntheticTarget) {
        let config = SyntheticDataConfig(target: target, inputDim: 2, trainSize: 20)
        let data: Dataset<Double> = config.makeDataset(seed: 1)
        for row in 0..<20 {
            let z = (data.inputs[row, 0] + data.inputs[row, 1]) / 2.0.squareRoot()
            let expected = switch target {
            case .sin: sin(Double.pi * z)
            case .linear: z
            case .quadratic: z * z
            }
            #expect(abs(data.targets[row, 0] - expected) < 1e-15)
        }
    }

    @Test func floatDataIsTheDoubleDataRounded() {
        let config = SyntheticDataConfig(target: .quadratic, inputDim: 1, trainSize: 10)
        let single: Dataset<Float> = config.makeDataset(seed: 2)
        let double: Dataset<Double> = config.makeDataset(seed: 2)
        #expect(single.inputs.scalars == double.inputs.scalars.map { Float($0) })
        for row in 0..<10 {
            let x = Double(single.inputs[row, 0])
            #expect(single.targets[row, 0] == Float(x * x))
        }
    }

    @Test func loadGivesTrainingDataOnly() throws {
        let data = try ExperimentData<Double>.load(.synthetic(SyntheticDataConfig(inputDim: 2)), seed: 0)
        #expect(data.train.count == 100 && data.validation == nil && data.test == nil && data.standardization == nil)
        #expect(data.featureNames == ["x1", "x2"])
    }
}

@Suite struct RandomStreamTests {
    @Test func streamsOfOneSeedDiffer() {
        let firsts = RandomStream.allCases.map { stream -> UInt64 in
            var generator = Xoshiro256StarStar(seed: 0, stream: stream)
            return generator.next()
        }
        #expect(Set(firsts).count == firsts.count)
        var a = Xoshiro256StarStar(seed: 0, stream: .data)
        var b = Xoshiro256StarStar(seed: 1, stream: .data)
        #expect(a.next() != b.next())
    }

    @Test func permutationsAreUniformEnough() {
        var generator = Xoshiro256StarStar(seed: 3)
        var firstPlaceCounts = [Int](repeating: 0, count: 4)
        for _ in 0..<4000 {
            let permutation = generator.permutation(of: 4)
            #expect(permutation.sorted() == [0, 1, 2, 3])
            firstPlaceCounts[permutation[0]] += 1
        }
        // Each of 4 values leads about 1000 times; 5 standard deviations is about 140.
        #expect(firstPlaceCounts.allSatisfy { abs($0 - 1000) < 140 }, "\(firstPlaceCounts)")
        #expect(generator.permutation(of: 0) == [] && generator.permutation(of: 1) == [0])
    }
}

@Suite struct CSVTests {
    func table(_ text: String) throws(CSVError) -> CSVTable { try CSVTable(text: text, file: "data/t.csv") }

    func error(_ text: String) -> String? {
        do {
            _ = try table(text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func readsHeaderAndRows() throws {
        let parsed = try table("\u{FEFF}a, \"b, c\" ,d\r\n1,2,3\r\n\"4\",5e-1, -6\r\n\r\n\n")
        #expect(parsed.columnNames == ["a", "b, c", "d"])
        #expect(parsed.rows == [["1", "2", "3"], ["4", "5e-1", "-6"]])
        #expect(parsed.lineNumbers == [2, 3])
        #expect(try parsed.numbers(inColumn: 1) == [2, 0.5])
        #expect(try table("q\n\"say \"\"hi\"\"\"\n").rows == [["say \"hi\""]])
    }

    @Test func malformedFilesNameFileRowAndColumn() throws {
        #expect(error("") == "data/t.csv: the file is empty; expected a header row of column names")
        #expect(error("a,b\n") == "data/t.csv: no data rows after the header")
        #expect(error("a,b\n1,2\n3\n") == "data/t.csv: row 3: 1 field, but the header has 2 columns")
        #expect(error("a,b\n1,2,3\n") == "data/t.csv: row 2: 3 fields, but the header has 2 columns")
        #expect(error("a,,c\n1,2,3\n") == "data/t.csv: row 1, column 2: empty column name in the header")
        #expect(error("a,b,a\n1,2,3\n") == "data/t.csv: row 1, column 3: the column name \"a\" is already used by column 1")
        #expect(error("a,b\n1,2\n\n3,4\n") == "data/t.csv: row 3: empty row")
        #expect(error("a,b\n1,\"2\n") == "data/t.csv: row 2, column 2: unterminated quote (a field cannot span lines)")

        let numbers = try table("a,b\n1,2\n3,x\n5,nan\n7,\n9,0x10\n")
        func columnError(_ text: String) -> String? {
            do {
                _ = try CSVTable(text: text, file: "data/t.csv").numbers(inColumn: 1)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(numbers.rows.count == 5)
        #expect(columnError("a,b\n1,2\n3,x\n") == "data/t.csv: row 3, \"b\" (column 2): \"x\" is not a finite number")
        #expect(columnError("a,b\n1,nan\n") == "data/t.csv: row 2, \"b\" (column 2): \"nan\" is not a finite number")
        #expect(columnError("a,b\n1,inf\n") == "data/t.csv: row 2, \"b\" (column 2): \"inf\" is not a finite number")
        #expect(columnError("a,b\n1,0x10\n") == "data/t.csv: row 2, \"b\" (column 2): \"0x10\" is not a finite number")
        #expect(columnError("a,b\n1,\n") == "data/t.csv: row 2, \"b\" (column 2): empty field; expected a number")
        #expect(columnError("a,b\n1,1e999\n") == "data/t.csv: row 2, \"b\" (column 2): \"1e999\" is not a finite number")
    }

    @Test func missingColumnsNameTheConfigKey() throws {
        let config = CSVDataConfig(path: diabetesPath, features: ["age", "bmx"], target: "progression")
        #expect {
            _ = try config.load(seed: 0, as: Double.self)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("\(diabetesPath): no column named \"bmx\" (asked for by data.features[1]); did you mean \"bmi\"?")
                && text.hasSuffix("The columns are: age, sex, bmi, bp, s1, s2, s3, s4, s5, s6, progression")
        }
    }

    @Test func missingFileIsACSVError() {
        #expect(throws: CSVError.self) { try CSVTable.read(path: "/nonexistent.csv") }
    }
}

@Suite struct DiabetesTests {
    static let features = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    static let split = CovariateShiftSplit(column: "bmi", below: 30, validationFraction: 0.1)

    @Test func coversAllRows() throws {
        let table = try CSVTable.read(path: diabetesPath)
        #expect(table.rows.count == 442)
        #expect(table.columnNames == Self.features + ["progression"])
    }

    @Test func covariateShiftSplitHoldsOutHighBMI() throws {
        let config = CSVDataConfig(path: diabetesPath, features: Self.features, target: "progression", standardize: false, split: Self.split)
        let data: ExperimentData<Double> = try config.load(seed: 0)
        let test = try #require(data.test)
        let validation = try #require(data.validation)
        #expect(test.count == 99)
        #expect(validation.count == 34)  // 10% of the 343 in-distribution rows, rounded
        #expect(data.train.count == 343 - 34)
        let bmiColumn = 2
        #expect((0..<test.count).allSatisfy { test.inputs[$0, bmiColumn] >= 30 })
        #expect((0..<data.train.count).allSatisfy { data.train.inputs[$0, bmiColumn] < 30 })
        #expect((0..<validation.count).allSatisfy { validation.inputs[$0, bmiColumn] < 30 })
        // Another seed picks other validation rows from the same in-distribution rows.
        let other: ExperimentData<Double> = try config.load(seed: 1)
        #expect(other.validation?.inputs != validation.inputs)
        #expect(other.test?.inputs == test.inputs)
    }

    @Test func standardizationUsesTrainingRowsOnly() throws {
        var split = Self.split
        split.validationFraction = 0
        let config = CSVDataConfig(path: diabetesPath, features: ["bmi"], target: "progression", split: split)
        let data: ExperimentData<Double> = try config.load(seed: 0)
        let statistics = try #require(data.standardization)
        // Reference values from Python's statistics.fmean / pstdev over the 343 rows with bmi < 30.
        #expect(abs(statistics.featureMeans[0] - 24.515743440233233) < 1e-12)
        #expect(abs(statistics.featureScales[0] - 2.7998620256627853) < 1e-12)
        #expect(abs(statistics.targetMean - 134.46647230320698) < 1e-12)
        #expect(abs(statistics.targetScale - 68.29108006481029) < 1e-12)
        #expect(data.validation == nil)
        #expect(abs(data.train.inputs.mean()) < 1e-12 && abs(data.train.targets.mean()) < 1e-12)
        let variance = data.train.inputs.scalars.reduce(0) { $0 + $1 * $1 } / Double(data.train.count)
        #expect(abs(variance - 1) < 1e-12)
        // Test rows are scaled with the training statistics: high BMI sits far above 0.
        let test = try #require(data.test)
        #expect(test.inputs.scalars.allSatisfy { $0 >= (30 - 24.515743440233233) / 2.7998620256627853 - 1e-12 })
        #expect(abs(statistics.originalTarget(statistics.standardized(target: 151)) - 151) < 1e-12)
    }

    @Test func splitThatEmptiesASetIsAnError() {
        let everythingTests = CSVDataConfig(path: diabetesPath, features: ["age"], target: "progression",
                                            split: CovariateShiftSplit(column: "bmi", below: 0))
        #expect(throws: CSVError.self) { _ = try everythingTests.load(seed: 0, as: Double.self) }
        let nothingTests = CSVDataConfig(path: diabetesPath, features: ["age"], target: "progression",
                                         split: CovariateShiftSplit(column: "bmi", below: 1000))
        #expect(throws: CSVError.self) { _ = try nothingTests.load(seed: 0, as: Double.self) }
    }

    @Test func withoutSplitEveryRowTrains() throws {
        let data = try ExperimentData<Float>.load(.csv(CSVDataConfig(path: diabetesPath, features: ["bmi", "bp"], target: "progression")), seed: 0)
        #expect(data.train.count == 442 && data.test == nil && data.validation == nil)
        #expect(data.train.inputDim == 2 && data.featureNames == ["bmi", "bp"])
    }
}

@Suite struct StatisticsTests {
    @Test func rSquaredOfKnownFits() {
        let targets = [1.0, 2, 3, 4]
        #expect(rSquared(predictions: targets, targets: targets) == 1)
        #expect(rSquared(predictions: [2.5, 2.5, 2.5, 2.5], targets: targets) == 0)
        // Residuals 0.5 each: 1 - 1 / 5.
        #expect(abs(rSquared(predictions: [1.5, 2.5, 3.5, 4.5], targets: targets) - 0.8) < 1e-15)
        #expect(rSquared(predictions: [1, 1], targets: [3, 3]).isNaN)
        let tensor = Tensor<Float>(shape: [4, 1], scalars: [1, 2, 3, 4])
        #expect(rSquared(predictions: tensor, targets: tensor) == 1)
    }

    @Test func constantColumnIsOnlyCentred() {
        let statistics = Standardization(fittingRows: [[5, 1], [5, 3]], targets: [0, 2])
        #expect(statistics.featureScales == [1, 1])
        #expect(statistics.standardized(features: [5, 3]) == [0, 1])
    }
}
