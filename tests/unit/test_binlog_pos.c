/*
 * test_binlog_pos - binlog positions: sequence numbers from file names,
 * parsing "<file>:<offset>", and ordering by sequence number then offset
 * (never by file name text), including a sequence that outgrew its zeros.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "binlog_pos.h"
#include "err.h"

static void file_seq(void **state)
{
    (void)state;
    uint64_t seq = 0;
    assert_int_equal(ferry_binlog_pos_file_seq("mysql-bin.000123", &seq), 0);
    assert_int_equal(seq, 123);
    assert_int_equal(ferry_binlog_pos_file_seq("a.b.c.1000000", &seq), 0);
    assert_int_equal(seq, 1000000);
    assert_int_equal(ferry_binlog_pos_file_seq("mysql-bin", &seq), FERRY_ERR_INVALID);
    assert_int_equal(ferry_binlog_pos_file_seq("mysql-bin.", &seq), FERRY_ERR_INVALID);
    assert_int_equal(ferry_binlog_pos_file_seq("mysql-bin.00a1", &seq), FERRY_ERR_INVALID);
    assert_int_equal(ferry_binlog_pos_file_seq("x.12345678901234567890", &seq), FERRY_ERR_INVALID);
    assert_int_equal(ferry_binlog_pos_file_seq(NULL, &seq), FERRY_ERR_INVALID);
}

static void parse_and_format(void **state)
{
    (void)state;
    ferry_binlog_pos_t p;
    char err[256], buf[300];
    assert_int_equal(ferry_binlog_pos_parse("mariadb-bin.000007:4567", &p, err, sizeof(err)), 0);
    assert_string_equal(p.file, "mariadb-bin.000007");
    assert_int_equal(p.seq, 7);
    assert_int_equal(p.offset, 4567);
    ferry_binlog_pos_format(&p, buf, sizeof(buf));
    assert_string_equal(buf, "mariadb-bin.000007:4567");

    assert_int_equal(ferry_binlog_pos_parse("mysql-bin.000001", &p, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "expected <file>:<offset>"));
    assert_int_equal(ferry_binlog_pos_parse("mysql-bin.000001:12x", &p, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_binlog_pos_parse("nodot:12", &p, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "nodot"));

    char longname[400];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname + 300, ".1", 3);
    assert_int_equal(ferry_binlog_pos_init(&p, longname, 4, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "too long"));
}

static ferry_binlog_pos_t pos(const char *file, uint64_t off)
{
    ferry_binlog_pos_t p;
    char err[256];
    assert_int_equal(ferry_binlog_pos_init(&p, file, off, err, sizeof(err)), 0);
    return p;
}

static void ordering(void **state)
{
    (void)state;
    ferry_binlog_pos_t a = pos("mysql-bin.000009", 900), b = pos("mysql-bin.000010", 4),
                       c = pos("mysql-bin.000010", 5), d = pos("mysql-bin.999999", 1),
                       e = pos("mysql-bin.1000000", 1);
    assert_true(ferry_binlog_pos_cmp(&a, &b) < 0);
    assert_true(ferry_binlog_pos_cmp(&b, &a) > 0);
    assert_true(ferry_binlog_pos_cmp(&b, &c) < 0);
    assert_true(ferry_binlog_pos_cmp(&c, &c) == 0);
    /* text comparison would put "1000000" before "999999" */
    assert_true(ferry_binlog_pos_cmp(&d, &e) < 0);
    ferry_binlog_pos_t other = pos("other-name.000010", 5);
    assert_int_equal(ferry_binlog_pos_cmp(&c, &other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_seq),
        cmocka_unit_test(parse_and_format),
        cmocka_unit_test(ordering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
