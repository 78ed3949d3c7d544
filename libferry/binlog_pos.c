/*
 * binlog_pos.c - parsing and ordering binlog positions (see binlog_pos.h).
 */
#include "binlog_pos.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

int ferry_binlog_pos_file_seq(const char *file, uint64_t *seq)
{
    const char *dot = file ? strrchr(file, '.') : NULL;
    if (!dot || !dot[1] || strlen(dot + 1) > 19)
        return FERRY_ERR_INVALID;
    uint64_t v = 0;
    for (const char *c = dot + 1; *c; c++) {
        if (*c < '0' || *c > '9')
            return FERRY_ERR_INVALID;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *seq = v;
    return 0;
}

int ferry_binlog_pos_init(ferry_binlog_pos_t *p, const char *file, uint64_t offset, char *errstr,
                          size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    if (!file)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not read binlog position: no file name");
    size_t len = strlen(file);
    if (len >= sizeof(p->file))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not read binlog position: file name of %zu bytes is too long",
                             len);
    uint64_t seq;
    if (ferry_binlog_pos_file_seq(file, &seq) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not read binlog position \"%s\": the file name does not end "
                             "in .<sequence number>",
                             file);
    memcpy(p->file, file, len + 1);
    p->seq = seq;
    p->offset = offset;
    return 0;
}

int ferry_binlog_pos_parse(const char *text, ferry_binlog_pos_t *p, char *errstr,
                           size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || !colon[1] || (size_t)(colon - text) >= sizeof(p->file))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not parse binlog position \"%s\": expected <file>:<offset>",
                             text ? text : "");
    uint64_t off = 0;
    for (const char *c = colon + 1; *c; c++) {
        if (*c < '0' || *c > '9' || off > (UINT64_MAX - 9) / 10)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not parse binlog position \"%s\": bad offset", text);
        off = off * 10 + (uint64_t)(*c - '0');
    }
    char file[FERRY_BINLOG_POS_FILE_MAX];
    memcpy(file, text, (size_t)(colon - text));
    file[colon - text] = '\0';
    return ferry_binlog_pos_init(p, file, off, errstr, errstr_size);
}

int ferry_binlog_pos_cmp(const ferry_binlog_pos_t *a, const ferry_binlog_pos_t *b)
{
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return 0;
}

int ferry_binlog_pos_format(const ferry_binlog_pos_t *p, char *buf, size_t size)
{
    return snprintf(buf, size, "%s:%llu", p->file, (unsigned long long)p->offset);
}
