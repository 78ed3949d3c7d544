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

/* ferryctl up / down (ferryctl_proc.c). */
int ferryctl_cmd_up(int argc, char **argv);
int ferryctl_cmd_down(int argc, char **argv);

#endif
