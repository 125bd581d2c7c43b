// CBLAS and the OpenBLAS runtime queries come from OpenBLAS; Debian builds OpenBLAS without
// LAPACKE, so LAPACKE comes from the reference liblapacke (both found through pkg-config paths).
#include <cblas.h>
#include <lapacke.h>
