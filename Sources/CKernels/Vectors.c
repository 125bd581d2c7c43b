#include "Vectors.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <stdatomic.h>

enum { HAS_AVX = 1, HAS_AVX2_FMA = 2, HAS_AVX512F = 4 };

// The CPU's vector extensions that the OS also saves the registers of, as HAS_ bits: checked
// once, as CPUID traps to the hypervisor in a VM. Atomic because threads may race to store it;
// each stores the same value.
static _Atomic int cpu_features = -1;

static int features(void) {
    int found = atomic_load_explicit(&cpu_features, memory_order_relaxed);
    if (found >= 0) return found;
    found = 0;
    unsigned int eax, ebx, ecx, edx;
    // CPUID.1:ECX: bit 12 FMA, 27 OSXSAVE, 28 AVX. XCR0: bits 1-2 XMM and YMM state, 5-7 the
    // AVX-512 state (opmask, upper halves of ZMM0-15, ZMM16-31). CPUID.7.0:EBX: 5 AVX2, 16 AVX-512F.
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 27)) && (ecx & (1u << 28))) {
        unsigned int xcr0_low, xcr0_high;
        __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
        int fma = (ecx & (1u << 12)) != 0;
        if ((xcr0_low & 0x6u) == 0x6u) {
            found |= HAS_AVX;
            unsigned int leaf7_eax, leaf7_ebx, leaf7_ecx, leaf7_edx;
            if (__get_cpuid_count(7, 0, &leaf7_eax, &leaf7_ebx, &leaf7_ecx, &leaf7_edx)) {
                if (fma && (leaf7_ebx & (1u << 5))) found |= HAS_AVX2_FMA;
                if ((found & HAS_AVX2_FMA) && (leaf7_ebx & (1u << 16)) && (xcr0_low & 0xE6u) == 0xE6u) {
                    found |= HAS_AVX512F;
                }
            }
        }
    }
    atomic_store_explicit(&cpu_features, found, memory_order_relaxed);
    return found;
}

finitewidth_vectors finitewidth_widest_vectors(void) {
    int found = features();
    if (found & HAS_AVX512F) return FINITEWIDTH_VECTORS_AVX512;
    if (found & HAS_AVX2_FMA) return FINITEWIDTH_VECTORS_AVX2_FMA;
    return FINITEWIDTH_VECTORS_BASELINE;
}

int finitewidth_cpu_has_avx(void) { return (features() & HAS_AVX) != 0; }
#else
finitewidth_vectors finitewidth_widest_vectors(void) { return FINITEWIDTH_VECTORS_BASELINE; }

int finitewidth_cpu_has_avx(void) { return 0; }
#endif

finitewidth_vectors finitewidth_resolve_vectors(finitewidth_vectors requested) {
    finitewidth_vectors widest = finitewidth_widest_vectors();
    return requested == FINITEWIDTH_VECTORS_WIDEST || requested > widest ? widest : requested;
}
