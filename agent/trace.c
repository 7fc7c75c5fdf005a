/* Traces for the controller. */
#include "agent/trace.h"

#include <errno.h>
#include <jansson.h>
#include <linux/pkt_cls.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "agent/core.h"
#include "agent/flowlog.h"
#include "datapath/dp.h"
#include "utils/base64.h"
#include "utils/log.h"
#include "utils/util.h"

/* Random bytes of the token. */
#define TOKEN_BYTES 32

static pthread_once_t token_once = PTHREAD_ONCE_INIT;
static char token[2 * TOKEN_BYTES + 1];

static void
make_token(void)
{
    uint8_t bytes[TOKEN_BYTES];
    size_t got = 0;

    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);

        if (n < 0 && errno != EINTR) {
            /* The kernel has had getrandom() since 3.17; without it no
             * secret can be made, and nobody must be able to trace. */
            LOG_ERR("trace: getrandom: %s; traces are refused",
                    strerror(errno));
            token[0] = '\0';
            return;
        }
        got += n > 0 ? (size_t) n : 0;
    }
    for (size_t i = 0; i < sizeof bytes; i++) {
        snprintf(token + 2 * i, 3, "%02x", bytes[i]);
    }
}

const char *
agent_trace_token(void)
{
    pthread_once(&token_once, make_token);
    return token;
}

/* Whether 's', "ADDR:PORT" or a URL's "http://ADDR...", starts with a
 * loopback address. */
static bool
is_loopback(const char *s)
{
    if (!strncmp(s, "http://", 7)) {
        s += 7;
    } else if (!strncmp(s, "https://", 8)) {
        s += 8;
    }
    return !strncmp(s, "127.", 4) || !strncmp(s, "[::1]", 5)
           || !strncmp(s, "localhost", 9);
}

char *
agent_trace_url(const char *advertise, const char *metrics,
                const char *controller)
{
    if (advertise) {
        return xstrdup(advertise);
    }
    if (!metrics || !strncmp(metrics, "0.0.0.0:", 8)
        || !strncmp(metrics, "[::]:", 5)) {
        return NULL;
    }
    /* The controller only takes the agent's own address, the one it
     * connects from: a loopback address is that only for controllers on
     * loopback too, every one of the list. */
    if (is_loopback(metrics)) {
        for (const char *p = controller; p; p = strchr(p, ',')) {
            p += *p == ',';
            if (!is_loopback(p)) {
                return NULL;
            }
        }
        if (!controller) {
            return NULL;
        }
    }
    return xasprintf("http://%s", metrics);
}

/* The name of TC_ACT_* 'action'. */
static const char *
tc_action_name(int action)
{
    switch (action) {
    case TC_ACT_UNSPEC:
        return "unspec";
    case TC_ACT_OK:
        return "ok";
    case TC_ACT_RECLASSIFY:
        return "reclassify";
    case TC_ACT_SHOT:
        return "shot";
    case TC_ACT_PIPE:
        return "pipe";
    case TC_ACT_STOLEN:
        return "stolen";
    case TC_ACT_QUEUED:
        return "queued";
    case TC_ACT_REPEAT:
        return "repeat";
    case TC_ACT_REDIRECT:
        return "redirect";
    default:
        return "unknown";
    }
}

/* Returns the JSON text {"error": MESSAGE} and 'status'. */
static int fail(char **answer, int status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char **answer, int status, const char *format, ...)
{
    json_t *j;
    va_list args;
    char *msg;

    va_start(args, format);
    if (vasprintf(&msg, format, args) < 0) {
        msg = NULL;
    }
    va_end(args);
    j = json_pack("{ss}", "error", msg ? msg : "out of memory");
    *answer = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    free(msg);
    return status;
}

bool
agent_trace_authorized(const char *authorization)
{
    const char *mine = agent_trace_token();
    size_t len = strlen(mine);
    unsigned char diff = 0;
    const char *theirs;

    if (!len || !authorization || strncmp(authorization, "Bearer ", 7)) {
        return false;
    }
    theirs = authorization + 7;
    if (strlen(theirs) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        diff |= (unsigned char) (theirs[i] ^ mine[i]);
    }
    return diff == 0;
}

int
agent_trace_handle(struct core *core, const char *authorization,
                   const char *body, size_t len, char **answer)
{
    uint8_t frame[AGENT_TRACE_FRAME_MAX];
    enum dp_trace_program program;
    struct dp_trace_result *r;
    const char *prog, *port, *b;
    size_t frame_len;
    json_error_t jerr;
    json_t *in, *out;
    char *out_frame;
    int error, status;

    *answer = NULL;
    if (!agent_trace_authorized(authorization)) {
        return fail(answer, 401,
                    "trace: only the controller may trace, with the token "
                    "this agent registered");
    }
    in = json_loadb(body ? body : "", len, 0, &jerr);
    if (!json_is_object(in)) {
        json_decref(in);
        return fail(answer, 400, "trace: the body is not a JSON object: %s",
                    jerr.text);
    }
    prog = json_string_value(json_object_get(in, "program"));
    port = json_string_value(json_object_get(in, "port"));
    b = json_string_value(json_object_get(in, "frame"));
    if (!prog || (strcmp(prog, "port") && strcmp(prog, "uplink"))) {
        status = fail(answer, 400,
                      "trace: program: expected \"port\" or \"uplink\"");
        goto out;
    }
    program = !strcmp(prog, "port") ? DP_TRACE_PORT : DP_TRACE_UPLINK;
    if (program == DP_TRACE_PORT && !port) {
        status = fail(answer, 400, "trace: port: required for \"port\"");
        goto out;
    }
    if (!b || !base64_decode(b, frame, sizeof frame, &frame_len)
        || frame_len < 14) {
        status = fail(answer, 400,
                      "trace: frame: expected the base64 of an Ethernet "
                      "frame of 14 to %d bytes",
                      AGENT_TRACE_FRAME_MAX);
        goto out;
    }

    r = xzalloc(sizeof *r);
    error = core_trace(core, program, program == DP_TRACE_PORT ? port : NULL,
                       frame, frame_len, r);
    if (error) {
        status =
            fail(answer, error == ENOENT || error == ENODEV ? 404 : 500,
                 "trace: %s%s%s: %s",
                 program == DP_TRACE_PORT ? "port \"" : "the uplink",
                 program == DP_TRACE_PORT ? port : "",
                 program == DP_TRACE_PORT ? "\"" : "",
                 error == ENOENT   ? "not in this host's desired state"
                 : error == ENODEV ? "not in the datapath (no device yet?)"
                                   : strerror(error));
        free(r);
        goto out;
    }
    out_frame = base64_encode(r->out, r->out_len);
    out = json_pack("{sssoss?so}", "tc_action", tc_action_name(r->tc_action),
                    "frame", json_string(out_frame), "drop_reason",
                    r->drop_reason >= 0 ? dp_drop_reason_name(r->drop_reason)
                                        : NULL,
                    "firewall", json_null());
    if (r->fw_ran) {
        json_object_set_new(
            out, "firewall",
            json_pack("{sssssssI}", "action",
                      r->fw_action == POLICY_DENY ? "deny" : "allow", "reason",
                      flowlog_reason_name(r->fw_reason), "direction",
                      r->fw_direction == POLICY_EGRESS ? "egress" : "ingress",
                      "rule", (json_int_t) r->fw_rule));
    }
    *answer = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    free(out_frame);
    free(r);
    status = 200;
    LOG_DBG("trace: %s program%s%s: %s", prog, port ? " of port " : "",
            port ? port : "", *answer);

out:
    json_decref(in);
    return status;
}
