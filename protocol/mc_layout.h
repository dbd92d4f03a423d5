/*
 * mc_layout: how memcached 1.6.18 would lay out an item, for the replies
 * that report it (`me`, `lru_crawler metadump`): its total size in bytes
 * and the slab class it would land in with memcached's default -n and -f.
 * mcd's own layout differs; clients comparing these figures with
 * memcached's see the same numbers.
 */
#ifndef MCD_MC_LAYOUT_H
#define MCD_MC_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* memcached's item header, its -n and -f defaults, its largest slab chunk. */
#define MC_ITEM_HEADER 48
#define MC_CHUNK_MIN 48
#define MC_FACTOR 1.25
#define MC_CHUNK_MAX (512 * 1024)
/* memcached's largest slab class id (MAX_NUMBER_OF_SLAB_CLASSES - 1). */
#define MC_MAX_CLASS 63

/* ITEM_ntotal: header, key and its NUL, value and its \r\n, cas, flags. */
static inline size_t mc_item_size(size_t nkey, size_t vlen, uint32_t flags, bool use_cas)
{
    return MC_ITEM_HEADER + nkey + 1 + vlen + 2 + (use_cas ? 8 : 0) + (flags != 0 ? 4 : 0);
}

/* The slab class memcached would give an item of `size` bytes. */
static inline unsigned mc_item_class(size_t size)
{
    unsigned cls = 0;
    unsigned chunk = MC_ITEM_HEADER + MC_CHUNK_MIN;
    while (++cls < MC_MAX_CLASS) {
        if (chunk >= MC_CHUNK_MAX / MC_FACTOR)
            break;
        if (chunk % 8 != 0)
            chunk += 8 - chunk % 8;
        if (size <= chunk)
            return cls;
        chunk = (unsigned)(chunk * MC_FACTOR);
    }
    return cls;
}

#endif
