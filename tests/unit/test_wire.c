/*
 * test_wire.c - framing of message values (wire.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "wire.h"

static void confluent_round_trip(void **state)
{
    (void)state;
    uint8_t buf[8] = {0};
    assert_int_equal(ferry_wire_put_confluent(buf, 0x01020304u), 5);
    buf[5] = 0xAA;
    ferry_wire_info_t info;
    assert_int_equal(ferry_wire_parse(buf, 6, &info), 0);
    assert_int_equal(info.format, FERRY_WIRE_CONFLUENT);
    assert_int_equal(info.schema_id, 0x01020304u);
    assert_int_equal(info.body_len, 1);
    assert_int_equal(info.body[0], 0xAA);
}

static void single_object_round_trip(void **state)
{
    (void)state;
    uint8_t buf[12];
    assert_int_equal(ferry_wire_put_single_object(buf, 0x1122334455667788ull), 10);
    /* the fingerprint is little-endian on the wire */
    assert_int_equal(buf[2], 0x88);
    assert_int_equal(buf[9], 0x11);
    ferry_wire_info_t info;
    assert_int_equal(ferry_wire_parse(buf, 10, &info), 0);
    assert_int_equal(info.format, FERRY_WIRE_SINGLE_OBJECT);
    assert_true(info.fingerprint == 0x1122334455667788ull);
    assert_int_equal(info.body_len, 0);
}

static void rejects_unknown_and_short(void **state)
{
    (void)state;
    ferry_wire_info_t info;
    const uint8_t junk[] = {0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d};
    assert_int_equal(ferry_wire_parse(junk, sizeof(junk), &info), FERRY_ERR_INVALID);
    const uint8_t short_conf[] = {0x00, 0x00, 0x01};
    assert_int_equal(ferry_wire_parse(short_conf, sizeof(short_conf), &info), FERRY_ERR_INVALID);
    const uint8_t short_soe[] = {0xC3, 0x01, 1, 2, 3};
    assert_int_equal(ferry_wire_parse(short_soe, sizeof(short_soe), &info), FERRY_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(confluent_round_trip),
        cmocka_unit_test(single_object_round_trip),
        cmocka_unit_test(rejects_unknown_and_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
