#include "rill_malloc.h"

#include <stdlib.h>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>

int rill_keep_freed_memory(void) {
    int ok = mallopt(M_TRIM_THRESHOLD, 256 << 20);  // return heap tops above 256 MiB only
    ok &= mallopt(M_MMAP_THRESHOLD, 32 << 20);       // serve blocks below 32 MiB from the heap
    return ok;
}
#else
int rill_keep_freed_memory(void) { return 0; }
#endif
