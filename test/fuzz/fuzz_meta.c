/*
 * libFuzzer target: the meta protocol's parser.  Every line of the input
 * is parsed as a meta request (meta_parse, checked: a key within 250
 * bytes, flags only from the request's tokens), its base64 decoded and
 * encoded back; then the whole input is one read of a text session over a
 * fresh cache, each line made a meta command (its first byte becomes 'm'
 * when it is not one), so the executor sees mg/ms/md/ma/mn/me mostly.
 */
#include "fuzz_common.h"
#include "fuzz_text_session.h"
#include "meta.h"
#include "text.h"

static char work[1 << 20];

static void check_base64(const char *p, size_t n)
{
    char dec[512], enc[700];
    size_t d = meta_base64_decode(p, n, dec, sizeof(dec));
    FUZZ_CHECK(d <= sizeof(dec));
    if (d > 0 && d <= 512) {
        size_t e = meta_base64_encode(dec, d, enc);
        FUZZ_CHECK(e == 4 * ((d + 2) / 3));
        char back[512];
        size_t d2 = meta_base64_decode(enc, e, back, sizeof(back));
        FUZZ_CHECK(d2 == d && memcmp(back, dec, d) == 0);
    }
}

static void check_line(const char *line, size_t len)
{
    struct text_token tok[TEXT_MAX_TOKENS];
    struct meta_req r;
    meta_parse(line, len, tok, &r);
    FUZZ_CHECK(r.ntokens >= 0 && r.ntokens <= TEXT_MAX_TOKENS);
    if (r.err == MSG_NONE && r.key != NULL)
        FUZZ_CHECK(r.nkey <= ITEM_KEY_MAX);
    if (r.err == MSG_NONE && r.cmd == META_CMD_SET)
        FUZZ_CHECK(r.vlen >= 0);
    if (r.ntokens > 2 && tok[1].len > 0)
        check_base64(tok[1].p, tok[1].len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > sizeof(work))
        return 0;
    memcpy(work, data, size);
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(work + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - work) : size;
        if (end > pos && work[pos] != 'm')
            work[pos] = 'm';
        check_line(work + pos, end - pos);
        pos = end + 1;
    }
    fuzz_text_session(work, size);
    return 0;
}
