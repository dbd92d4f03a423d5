/*
 * mcdb_keys: key distributions, and values derived from keys.
 *
 * Every value is a pure function of its key id (length and bytes both), so
 * any connection can check any value it reads back without knowing who
 * stored it, and two connections setting the same key store the same bytes.
 * A wrong value is therefore always a server error, never a race.
 *
 * Random numbers come from xoshiro256** seeded through splitmix64, one
 * stream per connection.  Zipf uses Hörmann and Derflinger's
 * rejection-inversion (as in Apache Commons RNG): O(1) per draw and no table,
 * so a key space of millions costs nothing to set up.
 */
#include "mcdb_keys.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, n) by multiply-shift (bias below 2^-64 * n, irrelevant here). */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

double keys_rand01(struct keygen *g)
{
    return (double)(rng_next(g->rng) >> 11) * 0x1.0p-53;
}

/* --- zipf by rejection-inversion --------------------------------------------- */

/* log1p(x)/x and expm1(x)/x, accurate near 0. */
static double zipf_helper1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

static double zipf_helper2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x));
}

static double zipf_h(double s, double x) { return exp(-s * log(x)); }

/* The integral of h: (x^(1-s) - 1) / (1-s), log(x) at s = 1. */
static double zipf_hint(double s, double x)
{
    double lx = log(x);
    return zipf_helper2((1 - s) * lx) * lx;
}

static double zipf_hint_inv(double s, double x)
{
    double t = x * (1 - s);
    if (t < -1)
        t = -1;
    return exp(zipf_helper1(t) * x);
}

/* A rank in 1..key_max, rank 1 the most popular. */
static uint64_t zipf_next(struct keygen *g)
{
    const struct key_dist *d = g->dist;
    double n = (double)d->key_max;
    for (;;) {
        double u = d->z_hn + keys_rand01(g) * (d->z_hx1 - d->z_hn);
        double x = zipf_hint_inv(d->zipf_s, u);
        double k = floor(x + 0.5);
        if (k < 1)
            k = 1;
        else if (k > n)
            k = n;
        if (k - x <= d->z_sparam || u >= zipf_hint(d->zipf_s, k + 0.5) - zipf_h(d->zipf_s, k))
            return (uint64_t)k;
    }
}

void keys_dist_init(struct key_dist *d)
{
    double s = d->zipf_s;
    d->z_hx1 = zipf_hint(s, 1.5) - 1;
    d->z_hn = zipf_hint(s, (double)d->key_max + 0.5);
    d->z_sparam = 2 - zipf_hint_inv(s, zipf_hint(s, 2.5) - zipf_h(s, 2));
    if (d->stddev <= 0)
        d->stddev = (double)d->key_max / 6;
}

void keys_gen_init(struct keygen *g, const struct key_dist *d, uint64_t seed,
                   unsigned index, unsigned count)
{
    g->dist = d;
    uint64_t x = splitmix64(seed * 0x100000001b3ULL + index);
    for (int i = 0; i < 4; i++)
        g->rng[i] = x = splitmix64(x);
    g->seq = d->key_max / (count ? count : 1) * index;
}

static uint64_t gaussian_next(struct keygen *g)
{
    const struct key_dist *d = g->dist;
    double mean = (double)d->key_max / 2;
    for (;;) {
        /* Box-Muller; draws outside the key space are drawn again. */
        double u1 = keys_rand01(g), u2 = keys_rand01(g);
        if (u1 <= 0)
            continue;
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        double k = floor(mean + z * d->stddev);
        if (k >= 0 && k < (double)d->key_max)
            return (uint64_t)k;
    }
}

uint64_t keys_next(struct keygen *g)
{
    const struct key_dist *d = g->dist;
    switch (d->pattern) {
    case KEYS_SEQUENTIAL: {
        uint64_t id = g->seq;
        g->seq = id + 1 < d->key_max ? id + 1 : 0;
        return id;
    }
    case KEYS_GAUSSIAN:
        return gaussian_next(g);
    case KEYS_ZIPF:
        return zipf_next(g) - 1;
    case KEYS_UNIFORM:
    default:
        return rng_below(g->rng, d->key_max);
    }
}

/* --- keys and values ---------------------------------------------------------- */

size_t keys_format(char *buf, const char *prefix, size_t nprefix, uint64_t id)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    memcpy(buf, prefix, nprefix);
    for (size_t i = 0; i < n; i++)
        buf[nprefix + i] = digits[n - 1 - i];
    return nprefix + n;
}

bool keys_parse(const char *key, size_t nkey, const char *prefix, size_t nprefix, uint64_t *id)
{
    if (nkey <= nprefix || nkey - nprefix > 20 || memcmp(key, prefix, nprefix) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = nprefix; i < nkey; i++) {
        if (key[i] < '0' || key[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    *id = v;
    return true;
}

size_t keys_value_len(uint64_t id, size_t dmin, size_t dmax)
{
    if (dmax <= dmin)
        return dmin;
    return dmin + splitmix64(id ^ 0x5bd1e995ULL) % (dmax - dmin + 1);
}

static const char value_alphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Eight value bytes from one 64-bit word. */
static void value_word(uint64_t w, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++, w >>= 8)
        out[i] = value_alphabet[w & 63];
}

void keys_value_fill(uint64_t id, char *dst, size_t len)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < len; i += 8) {
        x = splitmix64(x);
        value_word(x, dst + i, len - i < 8 ? len - i : 8);
    }
}

bool keys_value_check(uint64_t id, const char *val, size_t len, size_t dmin, size_t dmax)
{
    if (len != keys_value_len(id, dmin, dmax))
        return false;
    uint64_t x = id * 0x9e3779b97f4a7c15ULL;
    char want[8];
    for (size_t i = 0; i < len; i += 8) {
        size_t n = len - i < 8 ? len - i : 8;
        x = splitmix64(x);
        value_word(x, want, n);
        if (memcmp(want, val + i, n) != 0)
            return false;
    }
    return true;
}
