/*
 * timing: the clock's choice and calibration, and the names and binary
 * protocol's opcodes for the latency histograms; the counting itself is
 * inline in timing.h, on the request path.
 */
#include "timing.h"

#include <errno.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "binary.h"

bool timing_tsc;
uint64_t timing_ns_mult = 1ull << 32;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The counter is used only when the CPU says it is invariant (CPUID
 * 0x80000007, EDX bit 8: constant rate, running in every power state) and
 * it visibly advances.  Its rate is the ticks counted over 20 ms of the
 * monotonic clock; a reading pair is skewed by a few tens of nanoseconds,
 * a few parts per million of the span.
 */
void timing_setup(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
        return;
    uint64_t t0 = mono_ns(), c0 = __rdtsc();
    struct timespec pause = { 0, 20 * 1000 * 1000 };
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
    uint64_t t1 = mono_ns(), c1 = __rdtsc();
    if (c1 <= c0 || t1 <= t0)
        return;
    timing_ns_mult = (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (c1 - c0));
    timing_tsc = timing_ns_mult != 0;
#endif
}

const char *timing_cmd_name(enum timing_cmd cmd)
{
    static const char *const names[TIMING_NCMD] = {
        [TIMING_GET] = "get", [TIMING_GETS] = "gets", [TIMING_GAT] = "gat",
        [TIMING_SET] = "set", [TIMING_ADD] = "add", [TIMING_REPLACE] = "replace",
        [TIMING_APPEND] = "append", [TIMING_PREPEND] = "prepend", [TIMING_CAS] = "cas",
        [TIMING_INCR] = "incr", [TIMING_DECR] = "decr", [TIMING_DELETE] = "delete",
        [TIMING_TOUCH] = "touch", [TIMING_MG] = "mg", [TIMING_MS] = "ms", [TIMING_MD] = "md",
        [TIMING_MA] = "ma", [TIMING_MN] = "mn", [TIMING_ME] = "me", [TIMING_STATS] = "stats",
        [TIMING_OTHER] = "other",
    };
    return cmd < TIMING_NCMD ? names[cmd] : "other";
}

enum timing_cmd timing_bin_cmd(uint8_t opcode)
{
    switch (opcode) {
    case BIN_CMD_GET: case BIN_CMD_GETQ: case BIN_CMD_GETK: case BIN_CMD_GETKQ:
        return TIMING_GET;
    case BIN_CMD_SET: case BIN_CMD_SETQ: return TIMING_SET;
    case BIN_CMD_ADD: case BIN_CMD_ADDQ: return TIMING_ADD;
    case BIN_CMD_REPLACE: case BIN_CMD_REPLACEQ: return TIMING_REPLACE;
    case BIN_CMD_APPEND: case BIN_CMD_APPENDQ: return TIMING_APPEND;
    case BIN_CMD_PREPEND: case BIN_CMD_PREPENDQ: return TIMING_PREPEND;
    case BIN_CMD_DELETE: case BIN_CMD_DELETEQ: return TIMING_DELETE;
    case BIN_CMD_INCREMENT: case BIN_CMD_INCREMENTQ: return TIMING_INCR;
    case BIN_CMD_DECREMENT: case BIN_CMD_DECREMENTQ: return TIMING_DECR;
    case BIN_CMD_TOUCH: return TIMING_TOUCH;
    case BIN_CMD_GAT: case BIN_CMD_GATQ: case BIN_CMD_GATK: case BIN_CMD_GATKQ:
        return TIMING_GAT;
    case BIN_CMD_STAT: return TIMING_STATS;
    default: return TIMING_OTHER;
    }
}
