/*
 * mcdb_keys: which key a request uses, and the value that belongs to a key.
 */
#ifndef MCDB_KEYS_H
#define MCDB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum key_pattern { KEYS_UNIFORM, KEYS_SEQUENTIAL, KEYS_GAUSSIAN, KEYS_ZIPF };

/* A key distribution over ids 0 .. key_max-1, shared read-only by every generator. */
struct key_dist {
    enum key_pattern pattern;
    uint64_t key_max;
    double zipf_s;              /* zipf exponent */
    double stddev;              /* gaussian: standard deviation, in keys */
    /* zipf rejection-inversion constants, from keys_dist_init */
    double z_hx1, z_hn, z_sparam;
};

/* One connection's generator: its own random stream and sequence. */
struct keygen {
    const struct key_dist *dist;
    uint64_t rng[4];
    uint64_t seq;
};

/* Fill in the constants of a distribution after pattern, key_max, zipf_s and stddev are set. */
void keys_dist_init(struct key_dist *d);
/* Start generator `index` of `count` with `seed`; sequential generators start spread apart. */
void keys_gen_init(struct keygen *g, const struct key_dist *d, uint64_t seed,
                   unsigned index, unsigned count);
/* The next key id. */
uint64_t keys_next(struct keygen *g);
/* A uniform double in [0, 1) from the generator's stream. */
double keys_rand01(struct keygen *g);

/* Write key `id` as prefix + decimal id into buf (at least 256 bytes); returns the length. */
size_t keys_format(char *buf, const char *prefix, size_t nprefix, uint64_t id);
/* Parse a key written by keys_format back into *id; false if it is not one. */
bool keys_parse(const char *key, size_t nkey, const char *prefix, size_t nprefix, uint64_t *id);

/* The value length of key `id`: dmin when dmin == dmax, else fixed per key within [dmin, dmax]. */
size_t keys_value_len(uint64_t id, size_t dmin, size_t dmax);
/* Write the `len` value bytes of key `id`. */
void keys_value_fill(uint64_t id, char *dst, size_t len);
/* Whether `val` is exactly the value of key `id`. */
bool keys_value_check(uint64_t id, const char *val, size_t len, size_t dmin, size_t dmax);

#endif
