/*
 * timing: names and the binary protocol's opcodes for the latency
 * histograms; the counting itself is inline in timing.h, on the request path.
 */
#include "timing.h"

#include "binary.h"

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
