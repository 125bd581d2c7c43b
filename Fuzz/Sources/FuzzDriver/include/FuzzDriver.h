#ifndef FUZZ_DRIVER_H
#define FUZZ_DRIVER_H

/// Runs libFuzzer on the target's LLVMFuzzerTestOneInput. SwiftPM links an executable with
/// `main` aliased to `<Target>_main`, so each target defines that symbol and calls this in place
/// of libFuzzer's own `main`.
int fuzz_driver_main(int argc, char **argv);

#endif
