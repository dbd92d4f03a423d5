/*
 * libFuzzer target: the text protocol's parser.  Every line of the input
 * goes through text_tokenize and text_parse (checked: tokens stay inside
 * the line, counts within memcached's limits, a parsed key within 250
 * bytes); then the whole input is one read of a text session over a fresh
 * cache (text_feed), whose replies must end with a whole line.
 */
#include "fuzz_common.h"
#include "fuzz_text_session.h"
#include "text.h"

static void check_line(const char *line, size_t len)
{
    struct text_token tok[TEXT_MAX_TOKENS];
    int n = text_tokenize(line, len, tok, TEXT_MAX_TOKENS);
    FUZZ_CHECK(n >= 1 && n <= TEXT_MAX_TOKENS);
    for (int i = 0; i < n - 1; i++) {
        FUZZ_CHECK(tok[i].p >= line && tok[i].p + tok[i].len <= line + len);
        FUZZ_CHECK(tok[i].len > 0 && memchr(tok[i].p, ' ', tok[i].len) == NULL);
    }
    struct text_req r;
    memset(&r, 0, sizeof(r));
    text_parse(line, len, &r);
    FUZZ_CHECK(r.ntokens >= 1 && r.ntokens <= TEXT_MAX_TOKENS);
    bool keyed = (r.cmd >= TEXT_CMD_SET && r.cmd <= TEXT_CMD_CAS) || r.cmd == TEXT_CMD_INCR ||
                 r.cmd == TEXT_CMD_DECR || r.cmd == TEXT_CMD_DELETE || r.cmd == TEXT_CMD_TOUCH;
    if (r.err == MSG_NONE && keyed)
        FUZZ_CHECK(r.key >= line && r.key + r.nkey <= line + len && r.nkey <= ITEM_KEY_MAX);
    if (r.rest != NULL)
        FUZZ_CHECK(r.rest >= line && r.rest + r.nrest <= line + len);
    if (r.err == MSG_NONE && (r.cmd >= TEXT_CMD_SET && r.cmd <= TEXT_CMD_CAS))
        FUZZ_CHECK(r.vlen >= 0 && r.vlen <= INT32_MAX - 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(in + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - in) : size;
        check_line(in + pos, end - pos);
        pos = end + 1;
    }
    fuzz_text_session(in, size);
    return 0;
}
