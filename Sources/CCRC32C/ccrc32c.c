// CRC-32C with the CPU's CRC32 instruction (SSE4.2), eight bytes per instruction. Swift cannot
// call the intrinsic directly, so this small C target does; Primitives.CRC32C falls back to its
// table when the instruction is missing. Both are tested against the same known vectors.
#include "ccrc32c.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

int rill_crc32c_hw_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

__attribute__((target("sse4.2")))
uint32_t rill_crc32c_hw(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t c = (uint32_t)~crc;
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);  // unaligned-safe load
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len > 0) {
        c32 = __builtin_ia32_crc32qi(c32, *p);
        p++;
        len--;
    }
    return ~c32;
}

#else

int rill_crc32c_hw_available(void) { return 0; }

uint32_t rill_crc32c_hw(uint32_t crc, const void *data, size_t len) {
    (void)data;
    (void)len;
    return crc;  // never called: rill_crc32c_hw_available() is 0
}

#endif
