extension CSVDataConfig {
    /// Reads the file, splits its rows (see ``CovariateShiftSplit``), and standardises with
    /// statistics of the training rows only, when `standardize` is set.
    /// - Parameter seed: the run's seed; the validation rows come from its ``RandomStream/split`` stream.
    public func load<Scalar: BLASScalar>(seed: UInt64, as type: Scalar.Type = Scalar.self) throws(CSVError) -> ExperimentData<Scalar> {
        if let source, !FileSystem.exists(path) {
            throw CSVError(file: path, problem: "no such file. This data set is not shipped with FiniteWidth: \(source)")
        }
        return try prepare(CSVTable.read(path: path), seed: seed)
    }

    /// Checks that every target is a class label 0..<classes (an integer), naming the first that is not.
    func checkClassLabels(_ targets: [Double], table: CSVTable, column: Int) throws(CSVError) {
        guard let classes else { return }
        for (row, value) in targets.enumerated() where !(value >= 0 && value < Double(classes) && value.rounded() == value) {
            throw CSVError(file: table.file, row: table.lineNumbers[row], column: "\"\(table.columnNames[column])\" (column \(column + 1))",
                           problem: "\(value) is not a class label: with data.classes = \(classes) the target column must hold "
                               + "integers from 0 to \(classes - 1)")
        }
    }

    /// ``load(seed:as:)`` for a table already read.
    public func prepare<Scalar: BLASScalar>(_ table: CSVTable, seed: UInt64, as type: Scalar.Type = Scalar.self) throws(CSVError) -> ExperimentData<Scalar> {
        var featureColumns: [[Double]] = []
        var columnIndices: [Int] = []
        for (index, feature) in features.enumerated() {
            let column = try table.columnIndex(named: feature, requestedBy: "data.features[\(index)]")
            featureColumns.append(try table.numbers(inColumn: column))
            columnIndices.append(column)
        }
        let targetColumn = try table.columnIndex(named: target, requestedBy: "data.target")
        var targets = try table.numbers(inColumn: targetColumn)
        columnIndices.append(targetColumn)
        let rowCount = min(table.rows.count, firstRows ?? table.rows.count)
        if let firstRows, firstRows > table.rows.count {
            throw CSVError(file: table.file, problem: "data.firstRows is \(firstRows) but the file has \(table.rows.count) data rows")
        }
        targets = Array(targets.prefix(rowCount))
        try checkClassLabels(targets, table: table, column: targetColumn)
        let rows = (0..<rowCount).map { row in featureColumns.map { $0[row] } }

        var trainRows = Array(0..<rows.count)
        var validationRows: [Int] = []
        var testRows: [Int] = []
        if let split {
            let splitValues = try table.numbers(inColumn: table.columnIndex(named: split.column, requestedBy: "data.split.column"))
            let inDistribution = trainRows.filter { splitValues[$0] < split.below }
            testRows = trainRows.filter { splitValues[$0] >= split.below }
            // The config allows [0, 1) only; a fraction built in code is checked here, not trusted to Int().
            precondition(split.validationFraction >= 0 && split.validationFraction < 1,
                         "CovariateShiftSplit: validationFraction must be in [0, 1), got \(split.validationFraction)")
            let validationCount = Int((split.validationFraction * Double(inDistribution.count)).rounded())
            var generator = Xoshiro256StarStar(seed: seed, stream: .split)
            let chosen = Set(generator.permutation(of: inDistribution.count).prefix(validationCount))
            validationRows = inDistribution.indices.filter { chosen.contains($0) }.map { inDistribution[$0] }
            trainRows = inDistribution.indices.filter { !chosen.contains($0) }.map { inDistribution[$0] }
            let threshold = "\(split.column) < \(plainNumber(split.below))"
            if trainRows.isEmpty {
                throw CSVError(file: table.file, problem: "the split leaves no training rows (\(inDistribution.count) rows have \(threshold), "
                               + "\(validationRows.count) of them go to validation); raise data.split.below or lower validationFraction")
            }
            if testRows.isEmpty {
                throw CSVError(file: table.file, problem: "the split leaves no out-of-distribution test rows: every row has \(threshold); lower data.split.below")
            }
        }

        var standardization = standardize
            ? Standardization(fittingRows: trainRows.map { rows[$0] }, targets: trainRows.map { targets[$0] })
            : nil
        // Class labels are names, not quantities: only the features are scaled.
        if classes != nil {
            standardization?.targetMean = 0
            standardization?.targetScale = 1
        }
        func columnName(_ position: Int) -> String {
            "\"\(table.columnNames[columnIndices[position]])\" (column \(columnIndices[position] + 1))"
        }
        if let standardization {
            let means = standardization.featureMeans + [standardization.targetMean]
            let scales = standardization.featureScales + [standardization.targetScale]
            if let position = means.indices.first(where: { !means[$0].isFinite || !scales[$0].isFinite }) {
                throw CSVError(file: table.file, column: columnName(position),
                               problem: "the values are too large to standardize: their mean or spread overflows a Double; rescale the column")
            }
        }
        // Every value, scaled and in the run's precision, must be a number: a network trained on
        // infinities would only report a divergence and blame the learning rate.
        func dataset(_ selection: [Int]) throws(CSVError) -> Dataset<Scalar> {
            var inputs: [[Double]] = [], outputs: [Double] = []
            inputs.reserveCapacity(selection.count)
            outputs.reserveCapacity(selection.count)
            for row in selection {
                let features = standardization?.standardized(features: rows[row]) ?? rows[row]
                let target = standardization?.standardized(target: targets[row]) ?? targets[row]
                for (position, value) in (features + [target]).enumerated() where !Scalar(value).isFinite {
                    let raw = position < features.count ? rows[row][position] : targets[row]
                    let scaled = standardization == nil ? "" : " (standardized: \(value))"
                    throw CSVError(file: table.file, row: table.lineNumbers[row], column: columnName(position),
                                   problem: "\(raw)\(scaled) does not fit in \(Scalar.self == Float.self ? "float32" : "float64"); "
                                       + "rescale the column" + (Scalar.self == Float.self ? " or use \"precision\": \"float64\"" : ""))
                }
                inputs.append(features)
                outputs.append(target)
            }
            return Dataset(inputRows: inputs, targets: outputs)
        }
        return ExperimentData(train: try dataset(trainRows),
                              validation: validationRows.isEmpty ? nil : try dataset(validationRows),
                              test: testRows.isEmpty ? nil : try dataset(testRows),
                              standardization: standardization, featureNames: features)
    }
}

extension CSVTable {
    /// The 0-based index of a column; the error names the config key that asked for it.
    public func columnIndex(named name: String, requestedBy configKey: String) throws(CSVError) -> Int {
        guard let index = columnNames.firstIndex(of: name) else {
            var problem = "no column named \"\(name)\" (asked for by \(configKey))"
            if let suggestion = ConfigObject.closest(to: name, among: columnNames) {
                problem += "; did you mean \"\(suggestion)\"?"
            }
            problem += " The columns are: " + columnNames.joined(separator: ", ")
            throw CSVError(file: file, problem: problem)
        }
        return index
    }
}
