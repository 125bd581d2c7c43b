// libFuzzer target: CSVTable and CSVDataConfig.prepare on arbitrary text, with the last column
// as the target and the others as features, standardized, in both precisions. Every input must
// be refused with a CSVError naming the file, or give data sets of finite numbers.
import FuzzDriver
import Experiments

/// The entry point SwiftPM links as `main`: libFuzzer's driver.
@_cdecl("FuzzCSV_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzz_driver_main(argc, argv)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let table = try CSVTable(text: text, file: "input.csv")
        guard table.columnNames.count >= 2 else { return 0 }
        let first = table.columnNames[0]
        for standardize in [true, false] {
            var config = CSVDataConfig(path: "input.csv", features: Array(table.columnNames.dropLast()),
                                       target: table.columnNames.last!, standardize: standardize)
            check(try config.prepare(table, seed: 0, as: Double.self))
            config.split = CovariateShiftSplit(column: first, below: 0.5, validationFraction: 0.2)
            check(try config.prepare(table, seed: 0, as: Float.self))
        }
    } catch {
        precondition(error.description.hasPrefix("input.csv: ") && error.description.count > 11, "\(error)")
    }
    return 0
}

func check<Scalar: BLASScalar>(_ data: ExperimentData<Scalar>) {
    precondition(data.train.count > 0, "no training rows")
    for set in [data.train, data.validation, data.test].compactMap({ $0 }) {
        precondition(set.inputs.scalars.allSatisfy { $0.isFinite } && set.targets.scalars.allSatisfy { $0.isFinite },
                     "a data set holds infinities or NaN")
    }
}
