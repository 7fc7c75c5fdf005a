/* fabricctl's commands for seeing what the firewall does: "flowlog" (the
 * flow logs agents report, GET /v1/flowlogs) and "trace" (one packet run
 * through the real fast path, POST /v1/trace). */
#ifndef CLI_OBSERVE_H
#define CLI_OBSERVE_H 1

#include "cli/commands.h"
#include "cli/parse.h"

/* Their options, for commands_table. */
extern const struct cli_option observe_flowlog_options[];
extern const struct cli_option observe_trace_options[];

int observe_flowlog(struct cli_ctx *, const struct cli_args *);
int observe_trace(struct cli_ctx *, const struct cli_args *);

/* Prints the trace answer 'answer' for people, one line per stage and
 * then the verdict and the deciding rule. */
void observe_print_trace(FILE *, const json_t *answer);

#endif /* cli/observe.h */
