// glibc allocator settings for the long-running server (malloc.h is not in Swift's Glibc module).
#ifndef RILL_MALLOC_H
#define RILL_MALLOC_H

/// Keep freed memory for reuse instead of returning it to the kernel at once: without this, every
/// large short-lived buffer (TLS records, batches) is a fresh mmap or heap growth, and each of its
/// pages a page fault. Returns 1 when the allocator took the settings (glibc), 0 otherwise.
int rill_keep_freed_memory(void);

#endif
