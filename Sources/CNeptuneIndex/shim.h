#ifndef CNEPTUNEINDEX_SHIM_H
#define CNEPTUNEINDEX_SHIM_H

// Cache prefetch for the search index's write path, which Swift has no spelling for. A prefetch, unlike a load,
// does not hold up the instructions after it while the line is fetched, so a write can start fetching every line
// it will touch (the document's row, the blocks and bitmap words of the old and new values) at once.

/// Starts fetching the cache line holding `address` for reading.
static inline void neptune_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// Starts fetching the cache line holding `address` for writing.
static inline void neptune_prefetch_write(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
