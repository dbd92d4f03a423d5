/* Unit tests of the warm-restart file (storage/persist_format.c) — checksum,
 * header, records, blocks, trailer — and of storage's side of a restart:
 * cache_restore, cache_cas_floor, and a save loaded back (storage/persist.c). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "persist.h"
#include "persist_format.h"

#include "cache_fixture.h"

static void test_crc32c_matches_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(persist_crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(persist_crc32c(0, "", 0), 0);
    /* In pieces, the same as at once. */
    uint32_t c = persist_crc32c(0, "1234", 4);
    assert_int_equal(persist_crc32c(c, "56789", 5), 0xe3069283);
}

static void test_crc32c_table_matches_the_instruction(void **state)
{
    (void)state;
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof(buf); n += 37) {
        uint32_t fast = persist_crc32c(0, buf, n);
        persist_crc_use_table(true);
        uint32_t table = persist_crc32c(0, buf, n);
        assert_int_equal(persist_crc32c(0, "123456789", 9), 0xe3069283);
        persist_crc_use_table(false);
        assert_int_equal(fast, table);
    }
}

/* The block checksum as persist_format.h defines it, from plain CRC32Cs:
 * deal the 8-byte words to the lanes, take each lane's CRC32C, then the
 * CRC32C of those. */
static uint32_t lanes_reference(const uint8_t *buf, size_t n)
{
    static uint8_t lane[PERSIST_CRC_LANES][4096];
    size_t len[PERSIST_CRC_LANES] = { 0 };
    assert_true(n <= sizeof(lane[0]));
    for (size_t i = 0; i < n; i++) {
        size_t k = i / 8 % PERSIST_CRC_LANES;
        lane[k][len[k]++] = buf[i];
    }
    uint8_t crcs[4 * PERSIST_CRC_LANES];
    for (int k = 0; k < PERSIST_CRC_LANES; k++) {
        uint32_t c = persist_crc32c(0, lane[k], len[k]);
        for (int b = 0; b < 4; b++)
            crcs[4 * k + b] = (uint8_t)(c >> (8 * b));
    }
    return persist_crc32c(0, crcs, sizeof(crcs));
}

/* The same bytes added in pieces of `step` (varying) bytes. */
static uint32_t lanes_in_pieces(const uint8_t *buf, size_t n, size_t step)
{
    struct persist_crc c;
    persist_crc_init(&c);
    for (size_t at = 0, k = 0; at < n; k++) {
        size_t piece = step + k % 5;
        if (piece > n - at)
            piece = n - at;
        persist_crc_add(&c, buf + at, piece);
        at += piece;
    }
    return persist_crc_value(&c);
}

static void test_block_crc_is_crc32c_of_its_lanes(void **state)
{
    (void)state;
    static uint8_t buf[3000];
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    static const size_t lens[] = { 0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 255, 256,
                                   1000, 1024, 2999, 3000 };
    /* Table and instruction, aligned and unaligned buffers, whole and in pieces. */
    for (int table = 0; table <= 1; table++) {
        persist_crc_use_table(table);
        for (size_t off = 0; off <= 3; off += 3) {
            for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                size_t n = lens[i] - (lens[i] >= off ? off : 0);
                uint32_t want = lanes_reference(buf + off, n);
                assert_int_equal(persist_block_crc(buf + off, n), want);
                for (size_t step = 1; step <= 41; step += 4)
                    assert_int_equal(lanes_in_pieces(buf + off, n, step), want);
            }
        }
    }
    persist_crc_use_table(false);
    /* One lane differs from a plain CRC32C of the whole. */
    assert_int_not_equal(persist_block_crc(buf, 1000), persist_crc32c(0, buf, 1000));
}

static struct persist_header sample_header(void)
{
    struct persist_header h = {
        .version = PERSIST_FORMAT_VERSION, .maxbytes = 64 * MB, .item_size_max = MB,
        .factor = 1.08, .min_chunk = 10, .slab_chunk_max = 0, .use_cas = true,
        .saved_wall = 1700000123,
    };
    strcpy(h.build, "mcd 0.1 build 1234abcd");
    return h;
}

static void test_header_round_trips(void **state)
{
    (void)state;
    struct persist_header h = sample_header(), back;
    uint8_t buf[PERSIST_HEADER_BYTES];
    persist_header_encode(&h, buf);
    assert_int_equal(persist_header_decode(buf, &back), PERSIST_OK);
    assert_string_equal(back.build, h.build);
    assert_true(back.maxbytes == h.maxbytes && back.item_size_max == h.item_size_max);
    assert_true(back.factor == 1.08 && back.min_chunk == 10 && back.use_cas);
    assert_true(back.saved_wall == 1700000123);
    char why[128];
    assert_int_equal(persist_header_match(&back, &h, why, sizeof(why)), PERSIST_OK);
}

static void test_header_refuses_other_magic_version_and_bit_flips(void **state)
{
    (void)state;
    struct persist_header h = sample_header(), back;
    uint8_t buf[PERSIST_HEADER_BYTES];
    persist_header_encode(&h, buf);
    buf[0] ^= 1;
    assert_int_equal(persist_header_decode(buf, &back), PERSIST_BAD_MAGIC);
    buf[0] ^= 1;
    buf[8] = PERSIST_FORMAT_VERSION + 1;
    assert_int_equal(persist_header_decode(buf, &back), PERSIST_BAD_VERSION);
    buf[8] = PERSIST_FORMAT_VERSION;
    for (size_t i = 16; i < PERSIST_HEADER_BYTES; i += 7) {
        buf[i] ^= 0x20;
        assert_int_equal(persist_header_decode(buf, &back), PERSIST_BAD_HEADER);
        buf[i] ^= 0x20;
    }
    assert_int_equal(persist_header_decode(buf, &back), PERSIST_OK);
}

static void test_header_match_names_the_first_difference(void **state)
{
    (void)state;
    struct persist_header self = sample_header(), file = self;
    char why[160];
    strcpy(file.build, "mcd 0.1 build ffffffff");
    assert_int_equal(persist_header_match(&file, &self, why, sizeof(why)), PERSIST_OTHER_BUILD);
    file = self;
    file.maxbytes = 128 * MB;
    assert_int_equal(persist_header_match(&file, &self, why, sizeof(why)),
                     PERSIST_OTHER_SETTINGS);
    assert_string_equal(why, "-m 134217728 bytes, this is 67108864 bytes");
    file = self;
    file.factor = 1.25;
    assert_int_equal(persist_header_match(&file, &self, why, sizeof(why)),
                     PERSIST_OTHER_SETTINGS);
    file = self;
    file.use_cas = false;
    assert_int_equal(persist_header_match(&file, &self, why, sizeof(why)),
                     PERSIST_OTHER_SETTINGS);
}

static void test_record_round_trips_and_refuses_overruns(void **state)
{
    (void)state;
    struct persist_record r = {
        .key = "user:42", .nkey = 7, .fetched = true, .key_binary = true, .flags = 0xdeadbeef,
        .vlen = 5, .ttl_left = 300, .idle = 12, .cas = 1ULL << 40, .value = "hello",
    };
    uint8_t buf[128];
    size_t n = persist_record_encode(&r, buf);
    assert_int_equal(n, PERSIST_RECORD_HEADER_BYTES + 7 + 5);
    struct persist_record b;
    assert_int_equal(persist_record_decode(buf, n, &b), n);
    assert_memory_equal(b.key, "user:42", 7);
    assert_memory_equal(b.value, "hello", 5);
    assert_true(b.fetched && !b.stale && b.key_binary);
    assert_true(b.flags == 0xdeadbeef && b.ttl_left == 300 && b.idle == 12 && b.cas == 1ULL << 40);
    /* One byte short: not a record. */
    assert_int_equal(persist_record_decode(buf, n - 1, &b), 0);
    /* A length pointing past the block. */
    buf[8] = 0xff;
    assert_int_equal(persist_record_decode(buf, n, &b), 0);
    buf[8] = 5;
    buf[0] = 0;     /* empty key */
    assert_int_equal(persist_record_decode(buf, n, &b), 0);
}

static void test_block_check_finds_any_flipped_bit(void **state)
{
    (void)state;
    uint8_t pay[256];
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        struct persist_record r = { .key = "abc", .nkey = 3, .vlen = 10, .value = "0123456789" };
        len += persist_record_encode(&r, pay + len);
    }
    struct persist_block b = { .len = (uint32_t)len, .items = 3,
                               .crc = persist_block_crc(pay, len) };
    uint8_t head[PERSIST_BLOCK_HEADER_BYTES];
    persist_block_encode(&b, head);
    struct persist_block back;
    assert_true(persist_block_decode(head, &back));
    assert_true(persist_block_check(&back, pay));
    for (size_t i = 0; i < len; i++) {
        pay[i] ^= 4;
        assert_false(persist_block_check(&back, pay));
        pay[i] ^= 4;
    }
    back.items = 2;     /* a record too many */
    assert_false(persist_block_check(&back, pay));
}

static void test_trailer_round_trips_and_refuses_a_flip(void **state)
{
    (void)state;
    struct persist_trailer t = { .items = 7, .blocks = 2, .bytes = 999, .crc_sum = 123,
                                 .max_cas = 77 }, back;
    uint8_t buf[PERSIST_TRAILER_BYTES];
    persist_trailer_encode(&t, buf);
    assert_true(persist_trailer_decode(buf, &back));
    assert_true(back.items == 7 && back.blocks == 2 && back.bytes == 999 && back.max_cas == 77);
    buf[20] ^= 1;
    assert_false(persist_trailer_decode(buf, &back));
}

static void test_restore_keeps_unique_times_and_marks(void **state)
{
    (void)state;
    struct cache_restore_item r = {
        .key = "k", .nkey = 1, .flags = 9, .exptime = NOW + 50, .atime = NOW - 20,
        .cas = 5000000, .fetched = true, .value = "val", .vlen = 3,
    };
    assert_int_equal(cache_restore(&r, cache_hash("k", 1), NOW), CACHE_STORED);
    struct cache_fetch f;
    assert_true(cache_peek("k", 1, NOW, &f));
    assert_true(f.cas == 5000000 && f.flags == 9 && f.vlen == 3 && f.fetched_before);
    assert_int_equal(f.exptime_before, NOW + 50);
    assert_int_equal(f.atime, NOW - 20);
    assert_string_equal(value("k"), "val");
    /* A key already there stays. */
    r.value = "new";
    assert_int_equal(cache_restore(&r, cache_hash("k", 1), NOW), CACHE_NOT_STORED);
    assert_string_equal(value("k"), "val");
}

static void test_cas_floor_puts_new_uniques_above_restored_ones(void **state)
{
    (void)state;
    cache_cas_floor(1ULL << 40);
    assert_int_equal(put("a", "1", CACHE_SET, 0), CACHE_STORED);
    struct cache_fetch f;
    assert_true(cache_peek("a", 1, NOW, &f));
    assert_true(f.cas > 1ULL << 40);
}

/* A new empty file named after the mkstemp template in `path`. */
static void make_temp(char *path)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static void test_save_then_load_brings_back_live_items_only(void **state)
{
    (void)state;
    char path[] = "/tmp/mcd-test-persist-XXXXXX";
    make_temp(path);
    assert_int_equal(put_full("forever", "a", CACHE_SET, 0, 3, 0, NOW), CACHE_STORED);
    assert_int_equal(put_full("soon", "b", CACHE_SET, 0, 0, NOW + 5, NOW), CACHE_STORED);
    assert_int_equal(put_full("later", "c", CACHE_SET, 0, 0, NOW + 100, NOW), CACHE_STORED);
    assert_int_equal(put_full("gone", "d", CACHE_SET, 0, 0, NOW - 1, NOW - 5), CACHE_STORED);
    struct cache_fetch before;
    assert_true(cache_peek("forever", 7, NOW, &before));
    struct persist_identity id = { .build = "test" };
    struct persist_report rep;
    assert_int_equal(persist_save(path, &id, NOW, 1700000000, 2, false, &rep), 0);
    assert_int_equal(rep.items, 3);
    cache_flush(NOW, NOW);
    assert_null(value("forever"));
    /* Ten wall-clock seconds later, at another cache time. */
    assert_int_equal(persist_load(path, &id, 500, 1700000010, 2, &rep), 0);
    assert_int_equal(rep.items, 2);
    assert_int_equal(rep.expired, 1);
    assert_int_equal(access(path, F_OK), -1);     /* used once */
    struct cache_fetch f;
    assert_true(cache_peek("forever", 7, 500, &f));
    assert_true(f.cas == before.cas && f.flags == 3 && f.exptime_before == 0);
    assert_true(cache_peek("later", 5, 500, &f));
    assert_int_equal(f.exptime_before, 500 + 90);
    assert_false(cache_peek("soon", 4, 500, &f));
    /* Another build's file is refused, and nothing is stored. */
    assert_int_equal(persist_save(path, &id, 500, 1700000010, 1, false, &rep), 0);
    cache_flush(500, 500);
    struct persist_identity other = { .build = "other" };
    assert_int_equal(persist_load(path, &other, 500, 1700000010, 1, &rep), 1);
    assert_int_equal(rep.verdict, PERSIST_OTHER_BUILD);
    assert_false(cache_peek("forever", 7, 500, &f));
    assert_int_equal(persist_load(path, &id, 500, 1700000010, 1, &rep), -ENOENT);
    persist_release_wait();
}

/* Flip one bit of the file at `from_end` bytes before its end. */
static void flip_bit(const char *path, long from_end)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -from_end, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -from_end, SEEK_END), 0);
    fputc(c ^ 0x10, f);
    assert_int_equal(fclose(f), 0);
}

static void test_bad_last_block_leaves_nothing_stored(void **state)
{
    (void)state;
    char path[] = "/tmp/mcd-test-persist-XXXXXX";
    make_temp(path);
    static char val[1001];
    memset(val, 'v', sizeof(val) - 1);
    struct persist_identity id = { .build = "test" };
    for (unsigned threads = 1; threads <= 2; threads++) {
        /* A few blocks' worth (PERSIST_BLOCK_TARGET is 512 KB). */
        char key[32];
        for (int i = 0; i < 2000; i++) {
            snprintf(key, sizeof(key), "key%d", i);
            assert_int_equal(put(key, val, CACHE_SET, 0), CACHE_STORED);
        }
        struct persist_report rep;
        assert_int_equal(persist_save(path, &id, NOW, 1700000000, 1, false, &rep), 0);
        cache_flush(NOW, NOW);
        cache_stats_reset();
        /* The last byte of the last block: every block before it checks
         * out and is stored before the bad one is found. */
        flip_bit(path, PERSIST_TRAILER_BYTES + 1);
        assert_int_equal(persist_load(path, &id, NOW, 1700000000, threads, &rep), 1);
        assert_int_equal(rep.verdict, PERSIST_BAD_BLOCK);
        assert_int_equal(rep.items, 0);
        struct cache_stats st;
        cache_stats(&st);
        assert_int_equal(st.curr_items, 0);
        assert_int_equal(st.total_items, 0);
        assert_null(value("key0"));
        assert_null(value("key1999"));
    }
    persist_release_wait();
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_matches_the_standard_check_value),
        cmocka_unit_test(test_crc32c_table_matches_the_instruction),
        cmocka_unit_test(test_block_crc_is_crc32c_of_its_lanes),
        cmocka_unit_test(test_header_round_trips),
        cmocka_unit_test(test_header_refuses_other_magic_version_and_bit_flips),
        cmocka_unit_test(test_header_match_names_the_first_difference),
        cmocka_unit_test(test_record_round_trips_and_refuses_overruns),
        cmocka_unit_test(test_block_check_finds_any_flipped_bit),
        cmocka_unit_test(test_trailer_round_trips_and_refuses_a_flip),
        T(test_restore_keeps_unique_times_and_marks),
        T(test_cas_floor_puts_new_uniques_above_restored_ones),
        T(test_save_then_load_brings_back_live_items_only),
        T(test_bad_last_block_leaves_nothing_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
