/*
 * ferry-verifier - compares source and destination.
 *
 * Today it is a service that holds checked connections to both databases
 * and answers its HTTP endpoints; chunked verification, diffs and repair SQL
 * come with issue 4.
 */
#include "log.h"
#include "service.h"

static int run(ferry_service_t *svc)
{
    while (!ferry_service_sleep(svc, 500))
        ;
    return 0;
}

int main(int argc, char **argv)
{
    ferry_service_def_t def = {
        .name = "verifier",
        .summary = "Verifies that source and destination hold the same rows, reports row and\n"
                   "column differences, and writes repair SQL.",
        .needs_source = 1,
        .needs_destination = 1,
        .run = run,
    };
    return ferry_service_main(argc, argv, &def);
}
