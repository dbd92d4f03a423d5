/*
 * md5: the MD5 digest of a short buffer (RFC 1321), for ketama placement.
 * Not for anything that needs a secure hash.
 */
#ifndef MCDB_MD5_H
#define MCDB_MD5_H

#include <stddef.h>

/* The 16-byte MD5 digest of data[0..len) into out. */
void md5_digest(const void *data, size_t len, unsigned char out[16]);

#endif
