/* fabricctl's commands for maintenance and balancing (doc/mobility.md):
 * "host maintenance enter|exit HOST" (POST /v1/hosts/NAME/maintenance)
 * and "drs show|set|recommendations|apply" (/v1/drs). */
#ifndef CLI_DRS_H
#define CLI_DRS_H 1

#include "cli/commands.h"
#include "cli/parse.h"

/* Their options, for commands_table. */
extern const struct cli_option drs_maintenance_options[];
extern const struct cli_option drs_set_options[];

int drs_maintenance(struct cli_ctx *, const struct cli_args *);
int drs_show(struct cli_ctx *, const struct cli_args *);
int drs_set(struct cli_ctx *, const struct cli_args *);
int drs_recommendations(struct cli_ctx *, const struct cli_args *);
int drs_apply(struct cli_ctx *, const struct cli_args *);

#endif /* cli/drs.h */
