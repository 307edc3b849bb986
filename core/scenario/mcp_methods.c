/*
 * mcp_methods: the table of MCP methods (see mcp_methods.h), their params
 * builders and result checks.
 *
 * Params are emitted from the raw scenario text (scn_emit_field) so numbers
 * reach the server exactly as written; inside tools/call arguments a string
 * that is exactly one placeholder is emitted without quotes, so numeric
 * arguments can be randomised.
 */
#include "scenario/mcp_methods.h"

#include <stdio.h>
#include <string.h>

#include "scenario/scenario_int.h"

/* {"name": TOOL, "arguments": {...}}; "arguments" defaults to {}. */
static bool params_tools_call(struct ctx *c, struct dynbuf *b, const cJSON *v,
                              const struct jpath *p)
{
    struct field f = scn_field(v, "tool", p);
    struct field fa = scn_field(v, "arguments", p);
    if (!scn_need(c, &f, "a non-empty string (the tool to call)") || !scn_as_string(c, &f, true))
        return false;
    scn_db_str(b, "{\"name\":");
    if (!scn_emit_field(c, b, &f, false))
        return false;
    scn_db_str(b, ",\"arguments\":");
    if (fa.v == NULL) {
        scn_db_str(b, "{}");
    } else {
        if (!cJSON_IsObject(fa.v)) {
            scn_expected(c, fa.v, &fa.p, "an object");
            return false;
        }
        if (!scn_emit_field(c, b, &fa, true))
            return false;
    }
    scn_db_str(b, "}");
    return true;
}

/* {} or {"cursor": C}. */
static bool params_tools_list(struct ctx *c, struct dynbuf *b, const cJSON *v,
                              const struct jpath *p)
{
    struct field f = scn_field(v, "cursor", p);
    if (f.v == NULL) {
        scn_db_str(b, "{}");
        return true;
    }
    if (!scn_as_string(c, &f, false))
        return false;
    scn_db_str(b, "{\"cursor\":");
    if (!scn_emit_field(c, b, &f, false))
        return false;
    scn_db_str(b, "}");
    return true;
}

/* {"uri": U}. */
static bool params_resources_read(struct ctx *c, struct dynbuf *b, const cJSON *v,
                                  const struct jpath *p)
{
    struct field f = scn_field(v, "uri", p);
    if (!scn_need(c, &f, "a non-empty string (the resource URI)") || !scn_as_string(c, &f, true))
        return false;
    scn_db_str(b, "{\"uri\":");
    if (!scn_emit_field(c, b, &f, false))
        return false;
    scn_db_str(b, "}");
    return true;
}

/* {"name": P} plus "arguments" (an object of strings) when given. */
static bool params_prompts_get(struct ctx *c, struct dynbuf *b, const cJSON *v,
                               const struct jpath *p)
{
    struct field f = scn_field(v, "prompt", p);
    struct field fa = scn_field(v, "arguments", p);
    if (!scn_need(c, &f, "a non-empty string (the prompt name)") || !scn_as_string(c, &f, true))
        return false;
    scn_db_str(b, "{\"name\":");
    if (!scn_emit_field(c, b, &f, false))
        return false;
    if (fa.v != NULL) {
        if (!scn_check_object(c, fa.v, &fa.p, NULL, 0, "an object of strings"))
            return false;
        long k = 0;
        for (const cJSON *it = fa.v->child; it != NULL; it = it->next, k++) {
            struct jpath ap = {&fa.p, it->string, 0, k};
            if (!cJSON_IsString(it)) {
                scn_expected(c, it, &ap, "a string (prompt arguments are strings)");
                return false;
            }
        }
        scn_db_str(b, ",\"arguments\":");
        if (!scn_emit_field(c, b, &fa, false))
            return false;
    }
    scn_db_str(b, "}");
    return true;
}

/* A tool that ran but failed answers a result with "isError": true. */
static bool tools_call_failed(const struct scn_step *st, struct json_span result, char *detail,
                              size_t cap)
{
    struct json_span ie;
    if (!json_find_member(result, "isError", &ie) || !json_span_is_true(ie))
        return false;
    snprintf(detail, cap, "tool %s returned isError: true", st->name);
    return true;
}

const struct mcp_method mcp_methods[] = {
    {"tools/call", SCN_TOOLS_CALL, {"tool", "arguments"}, params_tools_call, tools_call_failed},
    {"tools/list", SCN_TOOLS_LIST, {"cursor", NULL}, params_tools_list, NULL},
    {"resources/read", SCN_RESOURCES_READ, {"uri", NULL}, params_resources_read, NULL},
    {"prompts/get", SCN_PROMPTS_GET, {"prompt", "arguments"}, params_prompts_get, NULL},
    {"ping", SCN_PING, {NULL, NULL}, NULL, NULL},
};
const size_t mcp_method_count = sizeof(mcp_methods) / sizeof(mcp_methods[0]);
_Static_assert(sizeof(mcp_methods) / sizeof(mcp_methods[0]) <= MCP_METHOD_MAX,
               "raise MCP_METHOD_MAX");

const struct mcp_method *mcp_method_find(const char *name)
{
    for (size_t i = 0; i < mcp_method_count; i++)
        if (strcmp(mcp_methods[i].name, name) == 0)
            return &mcp_methods[i];
    return NULL;
}
