/* Tests of the whole fabricctl program, run in-process through
 * fabricctl_run() with its output captured: help at every level, usage
 * errors and their exit status, configuration from the environment, shell
 * completion, and what happens when there is no controller to talk to.
 *
 * Talking to a real controller is tests/cli/fabricctl-e2e.sh's job. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/fabricctl.h"
#include "utils/util.h"

/* What one run of fabricctl did. */
struct run {
    int status; /* Exit status. */
    char *out;  /* Everything written to standard output. */
    char *err;  /* Everything written to standard error. */
};

static void
run_clear(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Runs fabricctl with the NULL-terminated words. */
static struct run
run(const char *first, ...)
{
    char *argv[64] = {"fabricctl"};
    int argc = 1;
    struct run r;
    size_t out_len, err_len;
    FILE *out, *err;
    va_list ap;

    va_start(ap, first);
    for (const char *w = first; w; w = va_arg(ap, const char *)) {
        argv[argc++] = (char *) w;
    }
    va_end(ap);

    out = open_memstream(&r.out, &out_len);
    err = open_memstream(&r.err, &err_len);
    r.status = fabricctl_run(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

/* Returns a TCP port on 127.0.0.1 where nothing listens: one the kernel
 * just handed out and took back. */
static int
closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* Every test starts from the same environment: no configuration at all. */
static int
clean_env(void **state)
{
    unsetenv("FABRIC_CONTROLLER");
    unsetenv("FABRIC_TOKEN");
    unsetenv("FABRIC_TOKEN_FILE");
    unsetenv("FABRIC_CACERT");
    return 0;
}

/* Checks a usage error: exit status 2, nothing on standard output, and
 * exactly 'message' on standard error. */
static void
check_usage(struct run r, const char *message)
{
    assert_int_equal(r.status, CLI_EXIT_USAGE);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, message);
    run_clear(&r);
}

/* "--help" and "-h" work at every level, print to standard output and
 * exit 0; each level lists what it has. */
static void
test_help_everywhere(void **state)
{
    struct run r;

    r = run("--help", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "Usage: fabricctl [OPTIONS] COMMAND"));
    for (const struct cli_resource *res = commands_resources; res->name;
         res++) {
        char *line = xasprintf("\n  %s ", res->name);

        assert_non_null(strstr(r.out, line));
        free(line);
    }
    assert_non_null(strstr(r.out, "--controller URL"));
    run_clear(&r);

    for (const struct cli_resource *res = commands_resources; res->name;
         res++) {
        r = run(res->name, "-h", NULL);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        assert_non_null(strstr(r.out, "Usage: fabricctl "));
        run_clear(&r);
    }

    for (const struct cli_command *c = commands_table; c->resource; c++) {
        char *usage =
            c->verb ? xasprintf("Usage: fabricctl %s %s", c->resource, c->verb)
                    : xasprintf("Usage: fabricctl %s", c->resource);

        r = c->verb ? run(c->resource, c->verb, "--help", NULL)
                    : run(c->resource, "--help", NULL);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        assert_true(!strncmp(r.out, usage, strlen(usage)));
        assert_non_null(strstr(r.out, c->summary));
        for (const struct cli_option *o = c->options; o && o->name; o++) {
            char *opt = xasprintf("--%s", o->name);

            assert_non_null(strstr(r.out, opt));
            free(opt);
        }
        free(usage);
        run_clear(&r);
    }

    /* The verbs' list. */
    r = run("port", "--help", NULL);
    assert_non_null(strstr(r.out, "\n  create  Create a port in a network\n"));
    assert_non_null(strstr(r.out, "\n  delete  Delete a port\n"));
    run_clear(&r);
}

static void
test_usage_errors(void **state)
{
    struct run r;

    check_usage(run(NULL), "fabricctl: missing command\n"
                           "Try 'fabricctl --help'\n");
    check_usage(run("networks", "list", NULL),
                "fabricctl: unknown command \"networks\"\n"
                "Try 'fabricctl --help'\n");
    check_usage(run("port", "frob", NULL),
                "fabricctl: port: unknown verb \"frob\" (verbs: create, "
                "list, show, update, delete)\n"
                "Try 'fabricctl port --help'\n");
    check_usage(run("host", NULL),
                "fabricctl: host: missing verb (one of: list, show, "
                "update, delete, maintenance enter, maintenance exit)\n"
                "Try 'fabricctl host --help'\n");
    check_usage(run("port", "create", "web-1", NULL),
                "fabricctl: port create: missing --network NETWORK\n"
                "Try 'fabricctl port create --help'\n");
    check_usage(run("network", "show", NULL),
                "fabricctl: network show: missing NAME\n"
                "Try 'fabricctl network show --help'\n");
    check_usage(run("network", "create", "blue", "--cidr", "10.0.0.0/24",
                    "--mtu", "jumbo", NULL),
                "fabricctl: network create: --mtu \"jumbo\": must be a "
                "whole number (0, 1, 2, ...)\n"
                "Try 'fabricctl network create --help'\n");
    check_usage(run("port", "create", "web-1", "--network", "blue", "--label",
                    "web", NULL),
                "fabricctl: port create: --label \"web\": must be "
                "KEY=VALUE\n"
                "Try 'fabricctl port create --help'\n");
    check_usage(run("port", "list", "--label", "a=b", "--label", "=d", NULL),
                "fabricctl: port list: --label \"=d\": the key before \"=\" "
                "must not be empty\n"
                "Try 'fabricctl port list --help'\n");
    check_usage(run("port", "list", "--host", "a", "--host", "b", NULL),
                "fabricctl: port list: option --host given more than once\n"
                "Try 'fabricctl port list --help'\n");
    check_usage(run("token", "create", "ci", "--role", "root", NULL),
                "fabricctl: token create: --role \"root\": must be one of: "
                "admin, viewer, agent\n"
                "Try 'fabricctl token create --help'\n");
    /* Rates and sizes parse as in tc; the message names the flag and the
     * input once, then what is wrong and the accepted forms. */
    r = run("qos", "create", "gold", "--egress-rate", "100mbits", NULL);
    assert_int_equal(r.status, CLI_EXIT_USAGE);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "fabricctl: qos create: --egress-rate "
                                  "\"100mbits\": unknown unit \"mbits\"; "
                                  "expected "));
    assert_null(strstr(r.err, ": rate \"100mbits\""));
    run_clear(&r);
    check_usage(run("qos", "update", "gold", "--ingress-burst", "0", NULL),
                "fabricctl: qos update: --ingress-burst \"0\": must be "
                "greater than zero\n"
                "Try 'fabricctl qos update --help'\n");
    check_usage(run("qos", "create", "gold", "--dscp", "64", NULL),
                "fabricctl: qos create: --dscp \"64\": must be a DSCP value "
                "0 to 63, or \"keep\"\n"
                "Try 'fabricctl qos create --help'\n");
    check_usage(run("qos", "create", "gold", "--min-rate", "1mbit", NULL),
                "fabricctl: qos create: unknown option \"--min-rate\"\n"
                "Try 'fabricctl qos create --help'\n");
    check_usage(run("qos", "create", "gold", "--egress-min-rate", "0", NULL),
                "fabricctl: qos create: --egress-min-rate \"0\": must be "
                "greater than zero\n"
                "Try 'fabricctl qos create --help'\n");
    check_usage(run("qos", "create", "gold", "--priority", "8", NULL),
                "fabricctl: qos create: --priority \"8\": must be a "
                "priority 0 to 7 (0 is the highest), or \"default\"\n"
                "Try 'fabricctl qos create --help'\n");
    check_usage(run("qos", "update", "gold", "--priority", "high", NULL),
                "fabricctl: qos update: --priority \"high\": must be a "
                "priority 0 to 7 (0 is the highest), or \"default\"\n"
                "Try 'fabricctl qos update --help'\n");
    r = run("host", "update", "hv-1", "--uplink-rate", "10gbits", NULL);
    assert_int_equal(r.status, CLI_EXIT_USAGE);
    assert_non_null(strstr(r.err, "fabricctl: host update: --uplink-rate "
                                  "\"10gbits\": unknown unit \"gbits\"; "));
    run_clear(&r);
    check_usage(run("network", "list", "--vni", "5", NULL),
                "fabricctl: network list: unknown option \"--vni\"\n"
                "Try 'fabricctl network list --help'\n");
    check_usage(run("-o", "yaml", "network", "list", NULL),
                "fabricctl: --output \"yaml\": must be one of: table, "
                "json\n"
                "Try 'fabricctl --help'\n");

    /* Combinations only the command itself can judge, still before any
     * request. */
    check_usage(run("network", "update", "blue", NULL),
                "fabricctl: network update: nothing to change: give --mtu, "
                "--description, --default-qos, --default-action or --dns\n"
                "Try 'fabricctl network update --help'\n");
    check_usage(run("qos", "update", "gold", NULL),
                "fabricctl: qos update: nothing to change: give "
                "--egress-rate, --egress-burst, --egress-min-rate, "
                "--ingress-rate, --ingress-burst, --dscp, --priority or "
                "--description\n"
                "Try 'fabricctl qos update --help'\n");
    check_usage(run("host", "update", "hv-1", "--if-version", "2", NULL),
                "fabricctl: host update: nothing to change: give "
                "--uplink-rate, --maintenance, --cpu-overcommit or "
                "--memory-overcommit\n"
                "Try 'fabricctl host update --help'\n");
    check_usage(run("vm", "update", "web1", NULL),
                "fabricctl: vm update: nothing to change: give --ha or "
                "--ha-priority\n"
                "Try 'fabricctl vm update --help'\n");
    check_usage(
        run("vm", "update", "web1", "--ha", "always", NULL),
        "fabricctl: vm update: --ha \"always\": must be one of: restart, "
        "off\n"
        "Try 'fabricctl vm update --help'\n");
    check_usage(run("port", "update", "web-1", "--label", "env=prod",
                    "--remove-label", "env", NULL),
                "fabricctl: port update: label \"env\" is both set and "
                "removed\n"
                "Try 'fabricctl port update --help'\n");
    check_usage(run("network", "create", "blue", "--cidr", "10.0.0.0/24",
                    "--default-action", "drop", NULL),
                "fabricctl: network create: --default-action \"drop\": must "
                "be one of: allow, deny\n"
                "Try 'fabricctl network create --help'\n");
}

/* Security groups: a resource whose rules take two-word verbs ("sg rule
 * add"), with the same errors as every other command. */
static void
test_sg_usage(void **state)
{
    struct run r;

    check_usage(run("sg", "rule", NULL),
                "fabricctl: sg: missing verb after \"rule\" (verbs: create, "
                "list, show, update, delete, rule add, rule list, rule "
                "delete)\n"
                "Try 'fabricctl sg --help'\n");
    check_usage(run("sg", "rule", "frob", NULL),
                "fabricctl: sg: unknown verb \"rule frob\" (verbs: create, "
                "list, show, update, delete, rule add, rule list, rule "
                "delete)\n"
                "Try 'fabricctl sg --help'\n");
    check_usage(run("sg", "frob", NULL),
                "fabricctl: sg: unknown verb \"frob\" (verbs: create, list, "
                "show, update, delete, rule add, rule list, rule delete)\n"
                "Try 'fabricctl sg --help'\n");
    check_usage(run("sg", "rule", "add", "web", "--protocol", "tcp",
                    "--action", "allow", NULL),
                "fabricctl: sg rule add: missing --direction DIR\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "add", NULL),
                "fabricctl: sg rule add: missing GROUP\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "add", "web", "--direction", "in", NULL),
                "fabricctl: sg rule add: --direction \"in\": must be one "
                "of: ingress, egress\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "add", "web", "--direction", "ingress",
                    "--protocol", "sctp", NULL),
                "fabricctl: sg rule add: --protocol \"sctp\": must be one "
                "of: tcp, udp, icmp, icmpv6, any\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "add", "web", "--direction", "ingress",
                    "--protocol", "tcp", "--action", "allow", "--log=yes",
                    NULL),
                "fabricctl: sg rule add: option --log takes no value\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "add", "web", "--direction", "ingress",
                    "--protocol", "tcp", "--action", "allow", "--peer-group",
                    "db", "--peer-cidr", "10.0.0.0/8", NULL),
                "fabricctl: sg rule add: give --peer-group or --peer-cidr, "
                "not both (neither: any peer)\n"
                "Try 'fabricctl sg rule add --help'\n");
    check_usage(run("sg", "rule", "delete", "web", "seven", NULL),
                "fabricctl: sg rule delete: ID \"seven\": must be a rule "
                "id, a number\n"
                "Try 'fabricctl sg rule delete --help'\n");
    check_usage(run("sg", "rule", "delete", "web", NULL),
                "fabricctl: sg rule delete: missing GROUP ID\n"
                "Try 'fabricctl sg rule delete --help'\n");
    check_usage(run("sg", "update", "web", NULL),
                "fabricctl: sg update: nothing to change: give "
                "--description, --selector or --remove-selector\n"
                "Try 'fabricctl sg update --help'\n");
    check_usage(run("sg", "update", "web", "--selector", "tier=web",
                    "--remove-selector", "tier", NULL),
                "fabricctl: sg update: selector key \"tier\" is both set "
                "and removed\n"
                "Try 'fabricctl sg update --help'\n");
    check_usage(run("sg", "create", "web", "--selector", "tier", NULL),
                "fabricctl: sg create: --selector \"tier\": must be "
                "KEY=VALUE\n"
                "Try 'fabricctl sg create --help'\n");

    r = run("sg", "rule", "add", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Usage: fabricctl sg rule add GROUP "
                                  "--direction DIR --protocol PROTO"));
    assert_non_null(strstr(r.out, "--log "));
    run_clear(&r);
    r = run("sg", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\n  rule add     Add a firewall rule"));
    run_clear(&r);
}

/* The controller's URL and the token come from options, then from the
 * environment; what is wrong in either is named with where it came
 * from. */
static void
test_configuration_errors(void **state)
{
    char path[] = "/tmp/fabricctl-test-token.XXXXXX";
    char *msg;
    int fd;

    check_usage(run("--controller", "127.0.0.1:9470", "status", NULL),
                "fabricctl: --controller \"127.0.0.1:9470\": expected a URL "
                "that starts with http:// or https://\n"
                "Try 'fabricctl --help'\n");
    check_usage(run("--controller", "http://a:1,,http://b:1", "status", NULL),
                "fabricctl: --controller \"http://a:1,,http://b:1\": item 2 "
                "is empty (expected URLs separated by single commas, e.g. "
                "http://10.0.0.1:9470,http://10.0.0.2:9470)\n"
                "Try 'fabricctl --help'\n");

    setenv("FABRIC_CONTROLLER", "ftp://controller", 1);
    check_usage(run("status", NULL),
                "fabricctl: FABRIC_CONTROLLER \"ftp://controller\": "
                "expected a URL that starts with http:// or https://\n"
                "Try 'fabricctl --help'\n");
    unsetenv("FABRIC_CONTROLLER");

    check_usage(run("--page-size", "5000", "network", "list", NULL),
                "fabricctl: --page-size \"5000\": must be 1 to 1000\n"
                "Try 'fabricctl --help'\n");

    check_usage(run("--token", "a", "--token-file", "/x", "status", NULL),
                "fabricctl: give --token or --token-file, not both\n"
                "Try 'fabricctl --help'\n");

    setenv("FABRIC_TOKEN_FILE", "/nonexistent/token", 1);
    check_usage(run("status", NULL),
                "fabricctl: FABRIC_TOKEN_FILE \"/nonexistent/token\": cannot "
                "read it: No such file or directory\n"
                "Try 'fabricctl --help'\n");
    unsetenv("FABRIC_TOKEN_FILE");

    /* A token file that holds only a line end is as good as none. */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\n", 1), 1);
    close(fd);
    msg = xasprintf("fabricctl: --token-file \"%s\": the file is empty\n"
                    "Try 'fabricctl --help'\n",
                    path);
    check_usage(run("--token-file", path, "status", NULL), msg);
    free(msg);
    unlink(path);

    setenv("FABRIC_CACERT", "/nonexistent/ca.pem", 1);
    check_usage(run("status", NULL),
                "fabricctl: FABRIC_CACERT \"/nonexistent/ca.pem\": cannot "
                "read it: No such file or directory\n"
                "Try 'fabricctl --help'\n");
    unsetenv("FABRIC_CACERT");

    check_usage(run("--token", "abc\r\nX-Evil: 1", "status", NULL),
                "fabricctl: the API token contains a space or a control "
                "character\n");
}

/* Without a controller every command that needs one exits 3 with a
 * message that names the URL and the cause. */
static void
test_controller_down(void **state)
{
    char *url = xasprintf("http://127.0.0.1:%d", closed_port());
    char *msg = xasprintf("fabricctl: cannot reach the controller at %s: "
                          "Connection refused\n",
                          url);
    static const char *const commands[][4] = {
        {"network", "list", NULL},
        {"network", "create", "blue", "--cidr=10.0.0.0/24"},
        {"port", "show", "web-1", NULL},
        {"host", "delete", "hv-1", NULL},
        {"token", "list", NULL},
        {"audit", NULL},
        {"status", NULL},
        {"version", NULL},
    };
    struct run r;

    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        const char *const *c = commands[i];

        r = run("--controller", url, c[0], c[1], c[2], c[3], NULL);
        assert_int_equal(r.status, CLI_EXIT_CONNECT);
        assert_string_equal(r.err, msg);
        run_clear(&r);
    }

    /* The same through the environment, with a trailing "/". */
    free(url);
    url = xasprintf("http://127.0.0.1:%d/", closed_port());
    setenv("FABRIC_CONTROLLER", url, 1);
    r = run("network", "list", NULL);
    assert_int_equal(r.status, CLI_EXIT_CONNECT);
    assert_non_null(strstr(r.err, "Connection refused"));
    run_clear(&r);

    /* "version --client" does not need the controller. */
    r = run("version", "--client", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "fabricctl " PACKAGE_VERSION "\n");
    run_clear(&r);

    free(url);
    free(msg);
}

/* A controller that accepts the connection but never answers: the
 * request gives up after --timeout, with exit status 3. */
static void
test_timeout(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char *url;
    struct run r;

    /* The kernel completes the handshake of a listening socket's backlog
     * by itself; nobody ever reads the request. */
    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    url = xasprintf("http://127.0.0.1:%d", ntohs(sin.sin_port));

    r = run("--controller", url, "--timeout", "0.3", "network", "list", NULL);
    assert_int_equal(r.status, CLI_EXIT_CONNECT);
    assert_non_null(strstr(r.err, "did not answer within 0.3 seconds"));
    run_clear(&r);

    close(fd);
    free(url);
}

/* Returns the candidates "fabricctl __complete" prints for the words. */
#define complete(...) run("__complete", __VA_ARGS__, NULL)

static void
check_complete(struct run r, const char *expected)
{
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, expected);
    run_clear(&r);
}

static void
test_completion(void **state)
{
    char *url = xasprintf("http://127.0.0.1:%d", closed_port());
    struct run r;

    check_complete(complete(""),
                   "network\nport\nqos\nsg\nhost\nexternal-vtep\nvm\n"
                   "vm-group\nmigration\nimage\ntoken\ndrs\naudit\nflowlog\n"
                   "trace\nstatus\nversion\ncompletion\n");
    check_complete(complete("vm", ""),
                   "create\nupdate\nlist\nshow\nstart\nstop\nreboot\n"
                   "delete\nconsole\nmigrate\n");
    check_complete(complete("migration", ""), "list\n");
    check_complete(complete("vm-group", "create", "web", "--policy", ""),
                   "affinity\nanti-affinity\n");
    check_complete(complete("host", "update", "hv1", "--maintenance", ""),
                   "on\noff\n");
    check_complete(complete("host", "maintenance", ""), "enter\nexit\n");
    check_complete(complete("drs", ""), "show\nset\nrecommendations\napply\n");
    check_complete(complete("drs", "set", "--mode", ""),
                   "off\nmanual\nautomatic\n");
    /* Usage errors of the VM commands: one line and a hint, no request. */
    check_usage(run("vm", "create", "w", "--network", "blue", "--vcpus", "1",
                    "--memory", "512", "--image", "tiny", NULL),
                "fabricctl: vm create: --memory \"512\": needs a unit, e.g. "
                "256M or 1G\nTry 'fabricctl vm create --help'\n");
    check_usage(run("vm", "create", "w", "--network", "blue", "--vcpus", "1",
                    "--memory", "1G", "--image", "tiny", "--disk", "2.5G",
                    NULL),
                "fabricctl: vm create: --disk \"2.5G\": must be a whole "
                "number of GiB up to 2147483647G, e.g. 2G\n"
                "Try 'fabricctl vm create --help'\n");
    check_usage(run("vm", "create", "w", "--network", "blue,ip=1,ip=2",
                    "--vcpus", "1", "--memory", "1G", "--image", "tiny", NULL),
                "fabricctl: vm create: --network \"blue,ip=1,ip=2\": "
                "repeated key \"ip\" (expected ip=ADDRESS and qos=POLICY "
                "once each, sg=GROUP any number of times)\n"
                "Try 'fabricctl vm create --help'\n");
    check_complete(complete("external-vtep", "create", "ovs", "--gbp", ""),
                   "on\noff\n");
    /* A two-word verb offers its first word once, then its second. */
    check_complete(complete("sg", ""),
                   "create\nlist\nshow\nupdate\ndelete\nrule\n");
    check_complete(complete("sg", "rule", ""), "add\nlist\ndelete\n");
    check_complete(complete("sg", "rule", "add", "web", "--direction", ""),
                   "ingress\negress\n");
    check_complete(complete("sg", "rule", "add", "web", "--protocol", "t"),
                   "tcp\nudp\nicmp\nicmpv6\nany\n");
    check_complete(
        complete("network", "update", "blue", "--default-action", ""),
        "allow\ndeny\n");
    r = complete("sg", "rule", "add", "web", "--");
    assert_non_null(strstr(r.out, "--direction\n--protocol\n--ports\n"
                                  "--icmp-type\n--peer-group\n--peer-cidr\n"
                                  "--action\n--log\n"));
    run_clear(&r);
    check_complete(complete("qos", ""),
                   "create\nlist\nshow\nupdate\ndelete\n");
    check_complete(complete("-o", "json", "host", ""),
                   "list\nshow\nupdate\ndelete\nmaintenance\n");
    check_complete(complete("-o", ""), "table\njson\n");
    check_complete(complete("--output", "=", ""), "table\njson\n");
    check_complete(complete("token", "create", "ci", "--role", "a"),
                   "admin\nviewer\nagent\n");
    check_complete(complete("--cacert", ""), ":file\n");
    check_complete(complete("completion", ""), "bash\n");
    check_complete(complete("network", "update", "blue", "--mtu", ""), "");

    r = complete("network", "update", "blue", "--");
    assert_non_null(strstr(r.out, "--mtu\n--description\n--default-qos\n"
                                  "--default-action\n--dns\n--if-version\n"));
    run_clear(&r);
    r = complete("qos", "update", "gold", "--");
    assert_non_null(strstr(r.out, "--egress-rate\n--egress-burst\n"
                                  "--egress-min-rate\n--ingress-rate\n"
                                  "--ingress-burst\n--dscp\n--priority\n"
                                  "--description\n--if-version\n"));
    run_clear(&r);
    r = complete("host", "update", "hv-1", "--");
    assert_non_null(strstr(r.out, "--uplink-rate\n--maintenance\n"
                                  "--cpu-overcommit\n--memory-overcommit\n"
                                  "--if-version\n"));
    run_clear(&r);
    r = complete("port", "update", "p", "--");
    assert_non_null(strstr(r.out, "--qos\n"));
    assert_non_null(strstr(r.out, "--security-group\n"));
    assert_non_null(strstr(r.out, "--controller\n"));
    assert_non_null(strstr(r.out, "--help\n"));
    run_clear(&r);

    /* Names come from the controller; without one there are none, and no
     * error either: a completion has nowhere to show it. */
    check_complete(complete("--controller", url, "port", "show", ""), "");
    check_complete(complete("--controller", url, "sg", "rule", "list", ""),
                   "");
    check_complete(complete("--controller", url, "port", "update", "p",
                            "--security-group", ""),
                   "");
    r = complete("--controller", url, "port", "create", "p", "--network", "");
    assert_string_equal(r.err, "");
    run_clear(&r);
    free(url);
}

/* "completion bash" prints the very script that is installed. */
static void
test_completion_script(void **state)
{
    const char *srcdir = getenv("top_srcdir");
    char *path =
        xasprintf("%s/cli/fabricctl.bash-completion", srcdir ? srcdir : ".");
    char *script;
    size_t len;
    struct run r;

    assert_int_equal(read_file(path, &script, &len), 0);
    r = run("completion", "bash", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, script);
    assert_non_null(strstr(r.out, "complete -F _fabricctl fabricctl"));
    run_clear(&r);
    free(script);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_help_everywhere, clean_env),
        cmocka_unit_test_setup(test_usage_errors, clean_env),
        cmocka_unit_test_setup(test_configuration_errors, clean_env),
        cmocka_unit_test_setup(test_controller_down, clean_env),
        cmocka_unit_test_setup(test_timeout, clean_env),
        cmocka_unit_test_setup(test_sg_usage, clean_env),
        cmocka_unit_test_setup(test_completion, clean_env),
        cmocka_unit_test_setup(test_completion_script, clean_env),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
