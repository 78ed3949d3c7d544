/*
 * ferry-verifier - proves that source and destination hold the same rows.
 *
 *   ferry-verifier <project> [--live]
 *   ferry-verifier <project> --once [--tables PATTERN] [--report FILE.json]
 *                  [--repair-sql FILE.sql] [--apply] [--live] [--checkpoint FILE] [--shared]
 *   ferry-verifier <project> --worker [--once]
 *
 * runs one full verification (libferry/verify.h) and exits 0 when every
 * table is equal, 1 when differences were found (after --apply: when they
 * remain), 2 when it could not verify, with a one-line reason on stderr.
 * Without --once it runs as a service that verifies on demand through its
 * HTTP API (api.c; `ferryctl verify`); --live there makes every verification
 * it starts live, as verify.live does. --help anywhere prints every mode's
 * options.
 */
#include "db.h"
#include "err.h"
#include "log.h"
#include "service.h"
#include "verifier.h"
#include "verify.h"

#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static atomic_int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, 1);
}

typedef struct {
    const char *project, *tables, *report, *repair, *checkpoint;
    bool apply, live, shared;
} once_args_t;

/* Every mode's options: `--help` anywhere on the command line prints this. */
static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: ferry-verifier <project file> [--live] [--log-level LEVEL]\n"
        "       ferry-verifier <project file> --once [options]\n"
        "       ferry-verifier <project file> --worker [--once] [--log-level LEVEL]\n"
        "\n"
        "Verifies that source and destination hold the same rows, reports row and column\n"
        "differences and writes the SQL that repairs the destination. Without --once or\n"
        "--worker it runs as a service that verifies on demand through its HTTP API\n"
        "(`ferryctl verify`); with --once it runs one verification and exits; with\n"
        "--worker it checksums the chunks of --shared verifications.\n"
        "\n"
        "options:\n"
        "  --once               run one full verification and exit\n"
        "  --tables PATTERN     --once: only source tables matching db.table PATTERN ('*' "
        "wildcard)\n"
        "  --report FILE        --once: write the JSON report to FILE\n"
        "  --repair-sql FILE    --once: write the SQL that makes the destination equal to FILE\n"
        "  --apply              --once: run that SQL on the destination, then verify again\n"
        "  --live               the link is running: re-check differences after the consumer\n"
        "                       applied what the source had written (verify.rounds rounds);\n"
        "                       as a service: every verification it starts (as verify.live)\n"
        "  --checkpoint FILE    --once: per-chunk checkpoint (default "
        "runtime.dir/verify.checkpoint);\n"
        "                       a stopped run resumes from it\n"
        "  --shared             --once: the chunks are checksummed by verifier workers through "
        "Kafka\n"
        "  --worker             checksum the chunks of --shared verifications; with --once,\n"
        "                       exit when the verification it worked on has ended\n"
        "  --log-level LEVEL    debug, info, warn or error (overrides log.level)\n"
        "  --version            show the version and exit\n"
        "  --help               show this help and exit\n"
        "\n"
        "The project file is described by `ferryctl --help-config`.\n"
        "Exit status with --once: 0 equal, 1 differences (after --apply: differences\n"
        "remain), 2 could not verify. As a service or worker: 0 stopped cleanly,\n"
        "1 failed, 2 bad usage or project file.\n");
}

static int parse_once(int argc, char **argv, once_args_t *a, const char **log_level)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'},
                                         {"tables", required_argument, NULL, 't'},
                                         {"report", required_argument, NULL, 'r'},
                                         {"repair-sql", required_argument, NULL, 's'},
                                         {"apply", no_argument, NULL, 'a'},
                                         {"live", no_argument, NULL, 'L'},
                                         {"checkpoint", required_argument, NULL, 'c'},
                                         {"shared", no_argument, NULL, 'S'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            break;
        case 't':
            a->tables = optarg;
            break;
        case 'r':
            a->report = optarg;
            break;
        case 's':
            a->repair = optarg;
            break;
        case 'a':
            a->apply = true;
            break;
        case 'L':
            a->live = true;
            break;
        case 'c':
            a->checkpoint = optarg;
            break;
        case 'S':
            a->shared = true;
            break;
        case 'l':
            *log_level = optarg;
            break;
        default:
            fprintf(stderr, "ferry-verifier: unknown option \"%s\" (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ferry-verifier: %s\n",
                optind >= argc ? "no project file given" : "more than one project file given");
        return 2;
    }
    a->project = argv[optind];
    return -1;
}

/*
 * One verification; returns 0 equal, 1 different, 2 could not verify. With
 * outputs it writes the report and the repair SQL; with apply it runs the
 * repair on the destination.
 */
static int verify_once(const ferry_conf_t *conf, const once_args_t *a, const char *checkpoint,
                       bool outputs, bool apply)
{
    ferry_verify_opts_t opts;
    ferry_verify_opts_from_conf(conf, &opts);
    opts.tables = a->tables;
    opts.live = opts.live || a->live;
    opts.checkpoint = checkpoint;
    opts.stop = &stop_flag;
    opts.shared = a->shared;
    ferry_verify_t *v = NULL;
    char err[1024];
    if (ferry_verify_new(conf, &opts, &v) != 0) {
        fprintf(stderr, "ferry-verifier: out of memory\n");
        return 2;
    }
    int rc = ferry_verify_run(v, err, sizeof(err));
    int status = 2;
    if (rc == 0) {
        status = ferry_verify_differences(v) ? 1 : 0;
        ferry_verify_print_summary(v, stdout);
        fflush(stdout);
        if (outputs && a->report)
            rc = ferry_verify_write_report(v, a->report, err, sizeof(err));
        if (!rc && outputs && a->repair)
            rc = ferry_verify_write_repair(v, a->repair, err, sizeof(err));
        if (!rc && apply && status == 1) {
            rc = ferry_verify_apply_repair(v, err, sizeof(err));
            if (!rc)
                printf("repair applied: %zu statement%s; verifying again\n",
                       ferry_verify_differences(v), ferry_verify_differences(v) == 1 ? "" : "s");
        }
    }
    if (rc) {
        fprintf(stderr, "ferry-verifier: %s\n", err);
        status = 2;
    }
    ferry_verify_destroy(v);
    return status;
}

/* Loads the project file, sets up the log and the signals; NULL (said on stderr) when it cannot. */
static ferry_conf_t *start(const char *project, const char *log_level)
{
    ferry_conf_t *conf = ferry_conf_load(project);
    if (!conf) {
        fprintf(stderr, "ferry-verifier: out of memory\n");
        return NULL;
    }
    if (ferry_conf_problem_count(conf) > 0) {
        fprintf(stderr, "ferry-verifier: %s\n", ferry_conf_problem(conf, 0));
        ferry_conf_destroy(conf);
        return NULL;
    }
    int level = ferry_log_level_parse(log_level ? log_level : ferry_conf_get(conf, "log.level"));
    ferry_log_init("verifier", level < 0 ? FERRY_LOG_INFO : (ferry_log_level_t)level);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return conf;
}

static int main_once(int argc, char **argv)
{
    once_args_t a = {0};
    const char *log_level = NULL;
    int rc = parse_once(argc, argv, &a, &log_level);
    if (rc >= 0)
        return rc;
    ferry_conf_t *conf = start(a.project, log_level);
    if (!conf)
        return 2;

    char checkpoint[1024];
    if (a.checkpoint) {
        snprintf(checkpoint, sizeof(checkpoint), "%s", a.checkpoint);
    } else {
        char dir[900];
        ferry_conf_runtime_dir(conf, dir, sizeof(dir));
        mkdir(dir, 0755);
        snprintf(checkpoint, sizeof(checkpoint), "%s/verify.checkpoint", dir);
    }
    ferry_db_global_init();
    int status = verify_once(conf, &a, checkpoint, true, a.apply);
    if (status == 1 && a.apply) /* repaired: the second run gives the verdict */
        status = verify_once(conf, &a, checkpoint, false, false);
    ferry_db_global_cleanup();
    ferry_conf_destroy(conf);
    return status;
}

static bool has_arg(int argc, char **argv, const char *arg)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], arg) == 0)
            return true;
    return false;
}

/*
 * ferry-verifier <project> --worker [--once] [--log-level LEVEL]: checksums
 * the chunks of verifications started with --shared; with --once it exits
 * when the verification it worked on has ended.
 */
static int main_worker(int argc, char **argv)
{
    const char *project = NULL, *log_level = NULL;
    bool once = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--worker") == 0) {
            continue;
        } else if (strcmp(argv[i], "--once") == 0) {
            once = true;
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            log_level = argv[++i];
        } else if (argv[i][0] != '-' && !project) {
            project = argv[i];
        } else {
            fprintf(stderr,
                    "ferry-verifier: unknown argument \"%s\" for --worker (usage: ferry-verifier "
                    "<project file> --worker [--once] [--log-level LEVEL])\n",
                    argv[i]);
            return 2;
        }
    }
    if (!project) {
        fprintf(stderr, "ferry-verifier: no project file given\n");
        return 2;
    }
    ferry_conf_t *conf = start(project, log_level);
    if (!conf)
        return 2;
    ferry_db_global_init();
    char err[1024];
    int rc = ferry_verify_work(conf, &stop_flag, once, err, sizeof(err));
    if (rc)
        fprintf(stderr, "ferry-verifier: %s\n", err);
    ferry_db_global_cleanup();
    ferry_conf_destroy(conf);
    return rc ? 2 : 0;
}

/*
 * Takes --live out of a service's command line (ferry_service_main knows
 * only the options every service has); returns whether it was there.
 */
static bool take_live(int *argc, char **argv)
{
    bool live = false;
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && strcmp(argv[i], "--live") == 0)
            live = true;
        else
            argv[n++] = argv[i];
    }
    argv[n] = NULL;
    *argc = n;
    return live;
}

int main(int argc, char **argv)
{
    if (has_arg(argc, argv, "--help") || has_arg(argc, argv, "-h")) {
        usage(stdout);
        return 0;
    }
    if (has_arg(argc, argv, "--worker"))
        return main_worker(argc, argv);
    if (has_arg(argc, argv, "--once"))
        return main_once(argc, argv);
    bool live = take_live(&argc, argv);
    verifier_state_t *st = ferry_verifier_state_new(live);
    if (!st) {
        fprintf(stderr, "ferry-verifier: out of memory\n");
        return 1;
    }
    ferry_service_def_t def = {
        .name = "verifier",
        .summary = "Verifies that source and destination hold the same rows, reports row and\n"
                   "column differences, and writes repair SQL.",
        .needs_source = 1,
        .needs_destination = 1,
        .run = ferry_verifier_service_run,
        .status = ferry_verifier_service_status,
        .opaque = st,
    };
    int rc = ferry_service_main(argc, argv, &def);
    ferry_verifier_state_destroy(st);
    return rc;
}
