/*
 * verifier.h - what ferry-verifier's source files share.
 */
#ifndef FERRY_VERIFIER_H
#define FERRY_VERIFIER_H

#include "service.h"

#include <stdbool.h>

/* The service loop: HTTP API, progress in /status, counts in /metrics (api.c). */
int ferry_verifier_service_run(ferry_service_t *svc);

/* The verifier's fields of /status (api.c). */
void ferry_verifier_service_status(ferry_service_t *svc, ferry_json_t *j);

/*
 * State shared by the loop, the HTTP handlers and /status; opaque of the
 * service def. With live, every verification is live unless POST /verify
 * says live=0 (ferry-verifier <project> --live).
 */
typedef struct verifier_state verifier_state_t;
verifier_state_t *ferry_verifier_state_new(bool live);
void ferry_verifier_state_destroy(verifier_state_t *st);

#endif
