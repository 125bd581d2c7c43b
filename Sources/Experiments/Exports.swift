@_exported import TangentKernels
// Configs, run folders and data sets are JSON and CSV: `JSONValue`, `CSVTable` and `FormatError`
// are part of this module's API.
@_exported import Formats
