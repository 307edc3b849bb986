/*
 * mcp_methods: the MCP methods a scenario step may call, one table row each.
 *
 * A row says everything loadscope knows about a method: its name (the
 * step's "method" and the JSON-RPC method sent), the step keys it takes,
 * how its params are built from the step (at load time, into a template the
 * engine renders per request), and how a successful result can still say
 * the call failed (tools/call's isError). The scenario loader reads steps
 * through the rows; the engine sends st->method_name with the rendered
 * params and asks the row about the result.
 *
 * Adding a method (resources/list, prompts/list, ...) is one row in
 * mcp_methods.c, plus its params builder when it takes params, plus its
 * enum scn_method value.
 */
#ifndef LS_MCP_METHODS_H
#define LS_MCP_METHODS_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/jsonrpc.h"
#include "scenario/scenario.h"

/* The loader's own types (scenario_int.h), opaque here. */
struct ctx;
struct jpath;
struct dynbuf;
struct cJSON;

#define MCP_METHOD_MAX 64      /* rows the table may have */
#define MCP_METHOD_MAX_KEYS 2

struct mcp_method {
    const char *name;        /* "tools/call" */
    enum scn_method id;
    /* step keys the method takes besides "name", "weight", "method"; NULL-padded */
    const char *keys[MCP_METHOD_MAX_KEYS];
    /*
     * Appends the params JSON built from the step object (at path p) to b,
     * reporting a wrong or missing key through c. NULL: the method takes no
     * params and the request has none.
     */
    bool (*params)(struct ctx *c, struct dynbuf *b, const struct cJSON *step,
                   const struct jpath *p);
    /*
     * True when a successful JSON-RPC result still reports a failed call;
     * detail gets why (the engine counts it as a tool error). NULL: every
     * result is a success.
     */
    bool (*result_failed)(const struct scn_step *st, struct json_span result, char *detail,
                          size_t cap);
};

extern const struct mcp_method mcp_methods[];
extern const size_t mcp_method_count;

/* The row named name, or NULL. */
const struct mcp_method *mcp_method_find(const char *name);

#endif
