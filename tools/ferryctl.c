/*
 * ferryctl - the operator's command: project file in, lifecycle out.
 *
 *   ferryctl check [--connect] <project file>   validate; print every problem
 *                                               (keys, values, kafka.* through
 *                                               librdkafka); warn of HTTP ports
 *                                               `up` would start twice
 *   ferryctl status [--json] <project file>     ask each service's /status
 *   ferryctl --help-config [--markdown]         the property table
 *
 * ferryctl finds a service's HTTP endpoint from the project file: the
 * configured port when it is fixed, else the address file the service wrote
 * into runtime.dir when it picked a free port.
 */
#include "ferryctl.h"

#include "conf.h"
#include "db.h"
#include "err.h"
#include "kafka.h"
#include "precheck.h"
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ferryctl_services[] = {"producer", "consumer", "verifier"};

static void usage(FILE *out)
{
    fputs("usage: ferryctl <command> [options] <project file>\n"
          "\n"
          "Controls the ferry services of a migration project.\n"
          "\n"
          "commands:\n"
          "  check [--connect] FILE   validate the project file and print every problem\n"
          "                           (kafka.* keys as librdkafka reads them) and warn of\n"
          "                           a fixed HTTP port up would give two services;\n"
          "                           --connect also checks that Kafka and both databases\n"
          "                           answer with the configured credentials\n"
          "  status [--json] FILE     show the state of each service from its /status\n"
          "  precheck FILE            check everything a link needs before it starts:\n"
          "                           binlog settings and replication rights of the\n"
          "                           source, each selected table, the destination\n"
          "  wait FILE --until full-done|caught-up [--timeout S]\n"
          "                           return 0 once every table finished its full load,\n"
          "                           or is in incremental mode with lag under 1 s;\n"
          "                           non-zero with the reason on timeout (default 600 s)\n"
          "                           or as soon as a service it started stopped on an error\n"
          "  up FILE                  start the project's services in the background\n"
          "                           (logs and pid files under runtime.dir); if one\n"
          "                           does not start, stop the ones it started and exit 1\n"
          "  verify FILE [--tables PATTERN] [--live] [--shared] [--report OUT.json]\n"
          "              [--repair-sql OUT.sql]\n"
          "                           run a verification in the project's ferry-verifier\n"
          "                           with a progress bar (--shared: chunks checksummed by\n"
          "                           ferry-verifier --worker processes through Kafka);\n"
          "                           exit 0 equal, 1 differences, 2 could not verify\n"
          "  down FILE [--timeout S]  stop them gracefully (SIGTERM, then SIGKILL after\n"
          "                           S seconds, default 30)\n"
          "\n"
          "options:\n"
          "  --help-config [--markdown]  print every project file key with its type,\n"
          "                              default and meaning\n"
          "  --help                      show this help and exit (also after a command)\n"
          "  --version                   show the version and exit\n"
          "\n"
          "Exit status: 0 success, 1 a check or service failed, 2 bad usage or project file.\n",
          out);
}

ferry_conf_t *ferryctl_load(const char *path, int *bad)
{
    ferry_conf_t *conf = ferry_conf_load(path);
    if (!conf) {
        fputs("ferryctl: out of memory\n", stderr);
        exit(1);
    }
    size_t n = ferry_conf_problem_count(conf);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s\n", ferry_conf_problem(conf, i));
    *bad = n > 0;
    return conf;
}

ferry_conf_t *ferryctl_open(const char *cmd, const char *path)
{
    if (!path) {
        fprintf(stderr, "ferryctl %s: no project file given\n", cmd);
        return NULL;
    }
    int bad;
    ferry_conf_t *conf = ferryctl_load(path, &bad);
    if (bad) {
        ferry_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* For ferry_kafka_props_check: one line per property librdkafka refuses. */
typedef struct {
    const char *path;
    const char *const *props;
} kafka_check_t;

static void report_kafka_prop(void *opaque, const char *name, const char *reason)
{
    const kafka_check_t *k = opaque;
    char key[256];
    snprintf(key, sizeof(key), "kafka.%s", name);
    /* librdkafka's reason may quote the value: not a secret's */
    const char *value = NULL;
    for (size_t i = 0; k->props[i] && k->props[i + 1]; i += 2)
        if (strcmp(k->props[i], name) == 0)
            value = k->props[i + 1];
    if (ferry_conf_is_secret_key(key) && value && *value && strstr(reason, value))
        reason = "invalid value (not shown: the key holds a secret)";
    fprintf(stderr, "%s: %s: %s\n", k->path, key, reason);
}

/* kafka.* keys librdkafka refuses, beyond the file's own problems: prints each; how many. */
static size_t kafka_problems(const ferry_conf_t *conf, const char *path)
{
    kafka_check_t k = {path, ferry_conf_kafka_props(conf)};
    return ferry_kafka_props_check(k.props, report_kafka_prop, &k);
}

static int cmd_check(int argc, char **argv)
{
    int connect = 0;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--connect") == 0)
            connect = 1;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "ferryctl check: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fputs("ferryctl check: no project file given\n", stderr);
        return 2;
    }
    int bad;
    ferry_conf_t *conf = ferryctl_load(path, &bad);
    size_t problems = ferry_conf_problem_count(conf) + kafka_problems(conf, path);
    if (problems) {
        fprintf(stderr, "%s: %zu problem%s found\n", path, problems, problems == 1 ? "" : "s");
        ferry_conf_destroy(conf);
        return 2;
    }
    /* fine for services in containers of their own; `up` refuses it */
    char warning[600];
    snprintf(warning, sizeof(warning), "%s: warning: ferryctl up would refuse this: ", path);
    ferryctl_check_ports(conf, warning);
    int failed = 0;
    if (connect) {
        char err[1024];
        int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
        if (ferry_kafka_probe(ferry_conf_kafka_props(conf), timeout, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            failed = 1;
        } else {
            printf("kafka: ok (%s)\n", ferry_conf_get(conf, "kafka.bootstrap.servers"));
        }
        const char *roles[] = {"source", "destination"};
        for (int i = 0; i < 2; i++) {
            char key[32], shown[512];
            snprintf(key, sizeof(key), "%s.url", roles[i]);
            ferry_db_t *db;
            if (ferry_db_connect(ferry_conf_get(conf, key), roles[i], timeout, &db, err,
                                 sizeof(err)) != 0) {
                fprintf(stderr, "%s: %s\n", path, err);
                failed = 1;
                continue;
            }
            printf("%s: ok (%s, server %s)\n", roles[i],
                   ferry_conf_get_display(conf, key, shown, sizeof(shown)),
                   ferry_db_server_version(db));
            ferry_db_close(db);
        }
    }
    if (!failed)
        printf("%s: ok\n", path);
    ferry_conf_destroy(conf);
    return failed ? 1 : 0;
}

static int cmd_precheck(int argc, char **argv)
{
    if (argc != 1) {
        fputs("ferryctl precheck: expected one project file\n", stderr);
        return 2;
    }
    ferry_conf_t *conf = ferryctl_open("precheck", argv[0]);
    if (!conf)
        return 2;
    ferry_precheck_t *p = ferry_precheck_new();
    ferry_precheck_link(conf, p);
    for (size_t i = 0; i < ferry_precheck_count(p); i++)
        printf("%s: %s\n",
               ferry_precheck_severity(p, i) == FERRY_PRECHECK_ERROR ? "error" : "warning",
               ferry_precheck_text(p, i));
    size_t errors = ferry_precheck_errors(p);
    printf("%s: %zu error%s, %zu warning%s\n", argv[0], errors, errors == 1 ? "" : "s",
           ferry_precheck_count(p) - errors, ferry_precheck_count(p) - errors == 1 ? "" : "s");
    ferry_precheck_destroy(p);
    ferry_conf_destroy(conf);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    /* --help anywhere, as in `ferryctl status --help` */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("ferryctl %s\n", FERRY_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help-config") == 0) {
        int md = argc > 2 && strcmp(argv[2], "--markdown") == 0;
        ferry_conf_print_table(stdout, md);
        return 0;
    }
    if (strcmp(cmd, "check") == 0) {
        ferry_db_global_init();
        int rc = cmd_check(argc - 2, argv + 2);
        ferry_db_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "status") == 0)
        return ferryctl_cmd_status(argc - 2, argv + 2);
    if (strcmp(cmd, "wait") == 0)
        return ferryctl_cmd_wait(argc - 2, argv + 2);
    if (strcmp(cmd, "up") == 0)
        return ferryctl_cmd_up(argc - 2, argv + 2);
    if (strcmp(cmd, "verify") == 0)
        return ferryctl_cmd_verify(argc - 2, argv + 2);
    if (strcmp(cmd, "down") == 0)
        return ferryctl_cmd_down(argc - 2, argv + 2);
    if (strcmp(cmd, "precheck") == 0) {
        ferry_db_global_init();
        int rc = cmd_precheck(argc - 2, argv + 2);
        ferry_db_global_cleanup();
        return rc;
    }
    fprintf(stderr, "ferryctl: unknown command \"%s\" (see ferryctl --help)\n", cmd);
    return 2;
}
