// Tensors' public API speaks in Formats' types (`FileError`, `FormatError` from safetensors
// reading and writing), and code that saves tensors writes files with `AtomicFile`.
@_exported import Formats
