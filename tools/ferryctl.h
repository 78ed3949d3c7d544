/*
 * ferryctl.h - what ferryctl's source files share (the tool's own, not
 * libferry's).
 */
#ifndef FERRYCTL_H
#define FERRYCTL_H

#include "conf.h"

/* The services of a project, in start order. */
extern const char *const ferryctl_services[];
#define FERRYCTL_N_SERVICES 3

/* Loads a project file, printing every problem; *bad is set if there were any. */
ferry_conf_t *ferryctl_load(const char *path, int *bad);

/*
 * For a command's project file: says so when none was given, loads it, and
 * prints every problem. NULL (exit status 2) when there is no usable file.
 */
ferry_conf_t *ferryctl_open(const char *cmd, const char *path);

/* ferryctl status / wait (ferryctl_status.c). */
int ferryctl_cmd_status(int argc, char **argv);
int ferryctl_cmd_wait(int argc, char **argv);

/*
 * Where service svc of the project listens ("http://127.0.0.1:PORT"): its
 * fixed port from the file, else its address file in runtime.dir. Returns 0,
 * or -1 with the reason in why.
 */
int ferryctl_service_url(const ferry_conf_t *conf, const char *svc, char *url, size_t n, char *why,
                         size_t why_n);

/* ferryctl verify (ferryctl_verify.c). */
int ferryctl_cmd_verify(int argc, char **argv);

/* ferryctl up / down (ferryctl_proc.c). */
int ferryctl_cmd_up(int argc, char **argv);
int ferryctl_cmd_down(int argc, char **argv);

/*
 * Fixed HTTP ports that processes `ferryctl up` starts on one machine would
 * share (http.port applies to every service its <service>.http.port does not
 * override; instance n listens n - 1 above its service's): one line each on
 * stderr, after prefix. Returns how many. Services in containers of their
 * own may share a port, so only up refuses such a file.
 */
int ferryctl_check_ports(const ferry_conf_t *conf, const char *prefix);

/*
 * Whether the link has given up: the producer `ferryctl up` started, or
 * every consumer it started, is gone with a log that ends with a failed
 * stop. 1 with the service and its last error in why; 0 otherwise (also
 * for a process killed, or run elsewhere, and for workers and the verifier).
 */
int ferryctl_service_failed(const ferry_conf_t *conf, char *why, size_t n);

#endif
