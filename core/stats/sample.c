/*
 * sample: names of the error classes, shared by summaries, storage and exports.
 */
#include "stats/sample.h"

const char *ls_errclass_name(enum ls_errclass c)
{
    switch (c) {
    case LS_EC_OK: return "ok";
    case LS_EC_CONNECT: return "connect";
    case LS_EC_TIMEOUT: return "timeout";
    case LS_EC_HTTP: return "http_status";
    case LS_EC_PROTOCOL: return "protocol";
    case LS_EC_RPC: return "rpc_error";
    case LS_EC_TOOL: return "tool_error";
    case LS_EC_SESSION_LOST: return "session_lost";
    case LS_EC_TARGET_EXIT: return "target_exit";
    case LS_EC_SEND: return "send";
    case LS_EC_OTHER: return "other";
    case LS_EC_THROTTLED: return "throttled";
    case LS_EC_AWS_CLIENT: return "aws_client_error";
    case LS_EC_AWS_SERVER: return "aws_server_error";
    case LS_EC__COUNT: break;
    }
    return "unknown";
}
