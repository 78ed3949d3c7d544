/*
 * test_conf.c - the project file parser, validator and URL handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conf.h"
#include "err.h"
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE                                                                                       \
    "project.name = demo\n"                                                                        \
    "source.url = mysql://repl:s3cret@127.0.0.1:3306\n"                                            \
    "destination.url = oceanbase://root@10.0.0.9:2881/app\n"                                       \
    "kafka.bootstrap.servers = 127.0.0.1:9092\n"

static int has_problem(const ferry_conf_t *c, const char *needle)
{
    for (size_t i = 0; i < ferry_conf_problem_count(c); i++)
        if (strstr(ferry_conf_problem(c, i), needle))
            return 1;
    return 0;
}

static int any_problem_contains(const ferry_conf_t *c, const char *needle)
{
    return has_problem(c, needle);
}

static void valid_file_with_defaults(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load_string(BASE "# a comment\n\n  log.level = debug  \n"
                                                  "kafka.security.protocol = plaintext\n",
                                             "p.properties");
    assert_non_null(c);
    assert_int_equal(ferry_conf_problem_count(c), 0);
    assert_string_equal(ferry_conf_get(c, "project.name"), "demo");
    assert_string_equal(ferry_conf_get(c, "log.level"), "debug");
    assert_string_equal(ferry_conf_get(c, "tables.include"), "*.*");
    assert_int_equal(ferry_conf_get_int(c, "topics.partitions"), 16);
    assert_int_equal(ferry_conf_http_port(c, "producer"), 0);

    const char *const *kp = ferry_conf_kafka_props(c);
    assert_string_equal(kp[0], "bootstrap.servers");
    assert_string_equal(kp[1], "127.0.0.1:9092");
    assert_string_equal(kp[2], "security.protocol");
    assert_string_equal(kp[3], "plaintext");
    assert_null(kp[4]);

    char dir[256];
    ferry_conf_runtime_dir(c, dir, sizeof(dir));
    assert_string_equal(dir, "/tmp/ferry-demo");
    ferry_conf_destroy(c);
}

static void every_problem_is_collected_with_line(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load_string("project.name = demo\n"
                                             "sorce.url = mysql://a@b\n"
                                             "http.port = eighty\n"
                                             "log.level = loud\n"
                                             "just some words\n"
                                             "project.name = again\n"
                                             "destination.url = ftp://x\n",
                                             "bad.properties");
    assert_non_null(c);
    assert_true(has_problem(c, "bad.properties:2: unknown key \"sorce.url\" (did you mean "
                               "\"source.url\"?)"));
    assert_true(has_problem(c, "bad.properties:3: invalid value for \"http.port\": \"eighty\" "
                               "is not an integer from 0 to 65535"));
    assert_true(has_problem(c, "bad.properties:4: invalid value for \"log.level\""));
    assert_true(has_problem(c, "bad.properties:5: expected key=value"));
    assert_true(has_problem(c, "bad.properties:6: key \"project.name\" is set twice (first on "
                               "line 1)"));
    assert_true(has_problem(c, "bad.properties:7: invalid value for \"destination.url\": "
                               "unknown database scheme \"ftp\""));
    assert_true(has_problem(c, "bad.properties: missing required key \"source.url\""));
    assert_true(has_problem(c, "bad.properties: missing required key "
                               "\"kafka.bootstrap.servers\""));
    assert_int_equal(ferry_conf_problem_count(c), 8);
    ferry_conf_destroy(c);
}

static void env_substitution(void **state)
{
    (void)state;
    setenv("FERRY_TEST_PW", "p@ss/w?rd", 1);
    unsetenv("FERRY_TEST_UNSET");
    ferry_conf_t *c =
        ferry_conf_load_string("project.name = demo\n"
                               "source.url = mysql://repl:${env:FERRY_TEST_PW}@db1:3307/shop\n"
                               "destination.url = mysql://root:${env:FERRY_TEST_UNSET}@db2\n"
                               "kafka.bootstrap.servers = k:9092\n"
                               "kafka.sasl.password = ${env:FERRY_TEST_PW}\n",
                               "env.properties");
    assert_int_equal(ferry_conf_problem_count(c), 1);
    assert_true(has_problem(c, "env.properties:3: environment variable \"FERRY_TEST_UNSET\" "
                               "used by \"destination.url\" is not set"));
    assert_string_equal(ferry_conf_get(c, "source.url"), "mysql://repl:p@ss/w?rd@db1:3307/shop");

    ferry_url_t u;
    assert_int_equal(ferry_url_parse(ferry_conf_get(c, "source.url"), &u, NULL, 0), 0);
    assert_string_equal(u.user, "repl");
    assert_string_equal(u.password, "p@ss/w?rd");
    assert_string_equal(u.host, "db1");
    assert_int_equal(u.port, 3307);
    assert_string_equal(u.database, "shop");
    ferry_url_free(&u);

    /* secrets never show: neither the URL password nor kafka.sasl.password */
    char buf[256];
    ferry_conf_get_display(c, "source.url", buf, sizeof(buf));
    assert_string_equal(buf, "mysql://repl:***@db1:3307/shop");
    assert_true(ferry_conf_is_secret_key("sasl.password"));
    assert_true(ferry_conf_is_secret_key("schema.registry.password"));
    assert_false(ferry_conf_is_secret_key("source.url"));
    ferry_conf_destroy(c);
}

static void bad_url_problem_hides_password(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load_string("project.name = demo\n"
                                             "source.url = mysql://u:TopSecret@h:99999\n"
                                             "destination.url = mysql://u@h\n"
                                             "kafka.bootstrap.servers = k:1\n",
                                             "u.properties");
    assert_int_equal(ferry_conf_problem_count(c), 1);
    assert_true(has_problem(c, "u.properties:2: invalid value for \"source.url\": bad port"));
    assert_false(any_problem_contains(c, "TopSecret"));
    ferry_conf_destroy(c);
}

static void table_patterns_and_names(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load_string(BASE "tables.include = shop.*, crm.user_%\n"
                                                  "tables.exclude = orders\n",
                                             "t.properties");
    assert_int_equal(ferry_conf_problem_count(c), 1);
    assert_true(has_problem(c, "t.properties:6: invalid value for \"tables.exclude\": table "
                               "pattern \"orders\" is not of the form db.table"));
    ferry_conf_destroy(c);

    c = ferry_conf_load_string("project.name = my.project\n"
                               "source.url = mysql://a@b\n"
                               "destination.url = mysql://a@b\n"
                               "kafka.bootstrap.servers = k:1\n",
                               "n.properties");
    assert_true(has_problem(c, "n.properties:1: invalid value for \"project.name\""));
    ferry_conf_destroy(c);
}

static void per_table_keys_and_renames(void **state)
{
    (void)state;
    ferry_conf_t *c =
        ferry_conf_load_string(BASE "where.shop.orders = amount > 0 AND id < 9\n"
                                    "columns.exclude.shop.users = password_hash\n"
                                    "rename.databases = shop:shop_v2\n"
                                    "rename.tables = shop.orders:archive.orders_2024\n",
                               "t.properties");
    assert_int_equal(ferry_conf_problem_count(c), 0);
    assert_string_equal(ferry_conf_get_table(c, "where", "shop", "orders"),
                        "amount > 0 AND id < 9");
    assert_null(ferry_conf_get_table(c, "where", "shop", "users"));
    assert_string_equal(ferry_conf_get_table(c, "columns.exclude", "shop", "users"),
                        "password_hash");
    assert_null(ferry_conf_get_table(c, "columns.include", "shop", "users"));
    assert_string_equal(ferry_conf_get(c, "rename.databases"), "shop:shop_v2");
    ferry_conf_destroy(c);

    c = ferry_conf_load_string(BASE "where.orders = x > 1\n"
                                    "where.* = 1\n"
                                    "rename.databases = shop\n"
                                    "rename.tables = shop.orders:orders2\n"
                                    "rename.databases = a:b:c\n",
                               "r.properties");
    assert_true(has_problem(c, "r.properties:5: key \"where.orders\" must name a table: "
                               "where.<db>.<table>"));
    assert_true(has_problem(c, "r.properties:6: key \"where.*\" must name a table"));
    assert_true(has_problem(c, "r.properties:7: invalid value for \"rename.databases\": rename "
                               "\"shop\" is not of the form src_db:dst_db"));
    assert_true(has_problem(c, "r.properties:8: invalid value for \"rename.tables\": rename "
                               "\"shop.orders:orders2\" is not of the form "
                               "src_db.table:dst_db.table"));
    assert_true(has_problem(c, "r.properties:9: key \"rename.databases\" is set twice"));
    ferry_conf_destroy(c);
}

static void missing_file(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load("/nonexistent/ferry.properties");
    assert_non_null(c);
    assert_int_equal(ferry_conf_problem_count(c), 1);
    assert_string_equal(ferry_conf_problem(c, 0),
                        "/nonexistent/ferry.properties: could not open project file: No such "
                        "file or directory");
    ferry_conf_destroy(c);
}

static void service_ports(void **state)
{
    (void)state;
    ferry_conf_t *c = ferry_conf_load_string(BASE "http.port = 8080\nconsumer.http.port = 8081\n",
                                             "p.properties");
    assert_int_equal(ferry_conf_problem_count(c), 0);
    assert_int_equal(ferry_conf_http_port(c, "producer"), 8080);
    assert_int_equal(ferry_conf_http_port(c, "consumer"), 8081);
    ferry_conf_destroy(c);
}

static void url_forms(void **state)
{
    (void)state;
    ferry_url_t u;
    char err[256], buf[256];
    assert_int_equal(
        ferry_url_parse("postgresql://app:pw@[::1]/db?sslmode=disable", &u, err, sizeof(err)), 0);
    assert_int_equal(u.engine, FERRY_ENGINE_POSTGRESQL);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 5432);
    assert_string_equal(u.database, "db");
    assert_string_equal(u.params, "sslmode=disable");
    assert_string_equal(ferry_url_redacted(&u, buf, sizeof(buf)),
                        "postgresql://app:***@[::1]:5432/db?sslmode=disable");
    ferry_url_free(&u);

    assert_int_equal(ferry_url_parse("tidb://root@tidb", &u, err, sizeof(err)), 0);
    assert_int_equal(u.port, 4000);
    assert_string_equal(u.password, "");
    assert_true(ferry_engine_is_mysql_family(u.engine));
    ferry_url_free(&u);

    assert_int_equal(ferry_url_parse("mariadb://us%40er:p%3Aw@h:3306", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "us@er");
    assert_string_equal(u.password, "p:w");
    ferry_url_free(&u);

    assert_int_equal(ferry_url_parse("mysql://u:p%zz@h", &u, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_int_equal(ferry_url_parse("mysql://u:p@", &u, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "the URL names no host");
    assert_int_equal(ferry_url_parse("localhost:3306", &u, err, sizeof(err)), FERRY_ERR_INVALID);
}

/* docs/CONFIGURATION.md is generated from the table; it must not go stale. */
static void configuration_doc_is_current(void **state)
{
    (void)state;
    const char *src = getenv("FERRY_SRC");
    if (!src)
        skip();
    char path[1024];
    snprintf(path, sizeof(path), "%s/docs/CONFIGURATION.md", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *doc = calloc(1, 1 << 20);
    size_t n = fread(doc, 1, (1 << 20) - 1, f);
    fclose(f);

    char *gen = NULL;
    size_t gen_len = 0;
    FILE *m = open_memstream(&gen, &gen_len);
    ferry_conf_print_table(m, 1);
    fclose(m);
    if (n != gen_len || memcmp(doc, gen, n) != 0)
        fail_msg("docs/CONFIGURATION.md is stale: regenerate it with "
                 "`ferryctl --help-config --markdown > docs/CONFIGURATION.md`");
    free(doc);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file_with_defaults),
        cmocka_unit_test(every_problem_is_collected_with_line),
        cmocka_unit_test(env_substitution),
        cmocka_unit_test(bad_url_problem_hides_password),
        cmocka_unit_test(table_patterns_and_names),
        cmocka_unit_test(per_table_keys_and_renames),
        cmocka_unit_test(missing_file),
        cmocka_unit_test(service_ports),
        cmocka_unit_test(url_forms),
        cmocka_unit_test(configuration_doc_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
