/*
 * num: memcached's number parsing (util.c's safe_strtoull, safe_strtoul,
 * safe_strtol, safe_strtod) as pure functions over a byte range, for the
 * protocol's request tokens and for the values incr/decr work on.  One
 * parser, quirks included, because clients depend on which inputs
 * memcached takes: leading white space, a sign, "-1" read as 2^64 - 1 by
 * the unsigned forms but a huge one refused, and any white space after the
 * digits.
 */
#ifndef MCD_NUM_H
#define MCD_NUM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline bool num_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * The strtoul family on the bytes p[0..n): optional leading white space, a
 * sign, decimal digits.  false when there are no digits, on overflow of
 * `limit` (the magnitude cap), or when what follows the digits is neither
 * the end nor white space.
 */
static inline bool num_scan(const char *p, size_t n, uint64_t limit, uint64_t *mag, bool *neg)
{
    size_t i = 0;
    while (i < n && num_space(p[i]))
        i++;
    *neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        *neg = p[i++] == '-';
    size_t start = i;
    uint64_t v = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        /* v * 10 + d > limit, with constants once inlined: no division per digit. */
        if (v > limit / 10 || (v == limit / 10 && d > limit % 10))
            return false;
        v = v * 10 + d;
    }
    if (i == start || (i < n && !num_space(p[i])))
        return false;
    *mag = v;
    return true;
}

/* safe_strtoull: an unsigned 64-bit number. */
static inline bool num_parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t mag;
    bool neg;
    if (!num_scan(p, n, UINT64_MAX, &mag, &neg))
        return false;
    uint64_t v = neg ? (uint64_t)0 - mag : mag;
    /* safe_strtoull refuses a '-' only when the result looks negative. */
    if (neg && (int64_t)v < 0)
        return false;
    *out = v;
    return true;
}

/* safe_strtoul: as num_parse_u64, truncated to 32 bits as memcached does. */
static inline bool num_parse_u32(const char *p, size_t n, uint32_t *out)
{
    uint64_t v;
    if (!num_parse_u64(p, n, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* safe_strtol: a signed long, stored into 32 bits as memcached stores it. */
static inline bool num_parse_i32(const char *p, size_t n, int32_t *out)
{
    uint64_t mag;
    bool neg;
    if (!num_scan(p, n, (uint64_t)INT64_MAX + 1, &mag, &neg))
        return false;
    if (!neg && mag > (uint64_t)INT64_MAX)
        return false;
    int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    *out = (int32_t)v;
    return true;
}

/* safe_strtod: a floating-point number (strtod's syntax) in range, then the
 * end or white space.  Tokens longer than any number are refused. */
static inline bool num_parse_double(const char *p, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno == ERANGE || end == buf || (*end != '\0' && !num_space(*end)))
        return false;
    *out = v;
    return true;
}

#endif
