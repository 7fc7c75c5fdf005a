/* The controller's Prometheus metrics (/metrics).
 *
 *   fabric_controller_http_requests_total{method,code}        counter
 *   fabric_controller_http_request_duration_seconds           histogram
 *   fabric_controller_objects{kind}                           gauge
 *   fabric_controller_hosts{status}                           gauge
 *   fabric_controller_agents_connected                        gauge
 *   fabric_controller_store_revision                          gauge
 *   fabric_ha_host_failures_total                             counter
 *   fabric_ha_restarts_total{result}                          counter
 *   fabric_ha_vms_waiting                                     gauge
 *   fabric_drs_imbalance                                      gauge
 *   fabric_drs_migrations_total{reason}                       counter
 *
 * Request counts are kept here; the rest is read from the store when
 * scraped. */
#ifndef CONTROLLER_METRICS_H
#define CONTROLLER_METRICS_H 1

struct metrics;
struct api;

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *);

/* Counts one answered request: its 'method', HTTP 'status' and how long
 * it took in 'seconds'. */
void metrics_observe(struct metrics *, const char *method, int status,
                     double seconds);

/* Returns the metrics in the Prometheus text exposition format (0.0.4).
 * The caller frees it. */
char *metrics_render(struct metrics *, struct api *);

#endif /* controller/metrics.h */
