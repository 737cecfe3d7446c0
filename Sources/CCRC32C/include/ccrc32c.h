#ifndef RILL_CCRC32C_H
#define RILL_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction the accelerated path can use (SSE4.2 on x86-64).
int rill_crc32c_hw_available(void);

/// Continue a CRC-32C (Castagnoli) over `len` bytes with the CPU instruction. `crc` is the value
/// returned for the bytes before (0 to start). Call only when rill_crc32c_hw_available() is 1.
uint32_t rill_crc32c_hw(uint32_t crc, const void *data, size_t len);

#endif
