@_exported import TangentKernels
