/* test_curve: tcp:// links secured by CURVE (run from the repo root, after
 * make), with stages started by hand on loopback:
 *  - spikesynth keygen writes a key pair (secret key mode 0600) and never
 *    replaces one; a secret key others may read is refused;
 *  - a source and a sink sharing a key directory stream over tcp;
 *  - a peer whose key is not allowed is refused, and both ends log it with
 *    the link's name; a plaintext peer fails against a CURVE end;
 *  - tcp without keys is refused unless --insecure, which warns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "process.h"
#include "tmpdir.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static int next_port = 0;

static int setup(void **state)
{
    (void)state;
    /* ports of this run's own: two runs of the suite at once must not meet */
    next_port = 20000 + (int)(getpid() % 20000);
    return tmpdir_make(dir, sizeof dir, "test_curve");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static void keygen(const char *keys)
{
    const char *argv[] = {"bin/spikesynth", "keygen", keys, NULL};
    int rc = proc_finish(proc_spawn(argv, tmpdir_at(dir, "keygen.err")), 10, NULL);
    if (rc != 0)
        fail_msg("keygen %s: exit %d: %s", keys, rc, proc_slurp(tmpdir_at(dir, "keygen.err")));
}

/* The sink binds tcp://127.0.0.1:PORT with sink_opt, the source connects with
 * src_opt and src_opt2 (each an option, or "" for none); both exit codes, their
 * stderr in DIR/sink.err and DIR/src.err. */
static void stream(const char *sink_opt, const char *src_opt, const char *src_opt2, int *sink_rc,
                   int *src_rc)
{
    char in[96], out[96];
    int port = next_port++;
    snprintf(in, sizeof in, "in=@tcp://127.0.0.1:%d", port);
    snprintf(out, sizeof out, "out=>tcp://127.0.0.1:%d", port);
    const char *sink[] = {"bin/frame-dump", "--name=sink", "--format=none", "--connect-timeout=2",
                          "--in", in, *sink_opt ? sink_opt : NULL, NULL};
    const char *src[] = {"bin/frame-source", "--name=src", "--batches=3", "--connect-timeout=2",
                         "--out", out, *src_opt ? src_opt : NULL, src_opt2, NULL};
    pid_t s = proc_spawn(sink, tmpdir_at(dir, "sink.err"));
    pid_t c = proc_spawn(src, tmpdir_at(dir, "src.err"));
    *src_rc = proc_finish(c, 10, NULL);
    *sink_rc = proc_finish(s, 10, NULL);
}

static const char *err_of(const char *who) { return proc_slurp(tmpdir_at(dir, who)); }

static void test_keygen(void **state)
{
    (void)state;
    const char *keys = tmpdir_at(dir, "keys");
    keygen(keys);
    struct stat st;
    assert_int_equal(stat(tmpdir_at(keys, "secret.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(keys, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char pub[64];
    snprintf(pub, sizeof pub, "%.40s", proc_slurp(tmpdir_at(keys, "public.key")));
    assert_non_null(strstr(proc_slurp(tmpdir_at(keys, "allowed")), pub));
    /* a second keygen never replaces the pair */
    const char *argv[] = {"bin/spikesynth", "keygen", keys, NULL};
    assert_int_equal(proc_finish(proc_spawn(argv, tmpdir_at(dir, "keygen.err")), 10, NULL), 1);
    assert_non_null(strstr(err_of("keygen.err"), "never replaced"));
    assert_int_equal(strncmp(proc_slurp(tmpdir_at(keys, "public.key")), pub, 40), 0);
}

static void test_stream_with_shared_keys(void **state)
{
    (void)state;
    const char *keys = tmpdir_at(dir, "shared");
    keygen(keys);
    char opt[300];
    snprintf(opt, sizeof opt, "--keys=%s", keys);
    int sink, src;
    stream(opt, opt, NULL, &sink, &src);
    if (sink != 0 || src != 0)
        fail_msg("sink %d: %s\nsrc %d: %s", sink, err_of("sink.err"), src, err_of("src.err"));
    assert_non_null(strstr(err_of("sink.err"), "45 frames, 3 batches"));
}

static void test_unknown_key_refused(void **state)
{
    (void)state;
    const char *a = tmpdir_at(dir, "a"), *b = tmpdir_at(dir, "b");
    keygen(a);
    keygen(b);
    char sink_opt[300], src_opt[300], server[300];
    snprintf(sink_opt, sizeof sink_opt, "--keys=%s", a);
    /* B knows A's public key (it is public) but A does not allow B's */
    snprintf(src_opt, sizeof src_opt, "--keys=%s", b);
    snprintf(server, sizeof server, "--server-key=%s/public.key", a);
    int sink_rc, src_rc;
    stream(sink_opt, src_opt, server, &sink_rc, &src_rc);
    assert_int_equal(src_rc, 1);
    assert_int_equal(sink_rc, 1); /* no allowed peer came */
    const char *e = err_of("src.err");
    if (!strstr(e, "link src.out: refused by the peer") || !strstr(e, "allow-list"))
        fail_msg("src: %s", e);
    e = err_of("sink.err");
    if (!strstr(e, "link sink.in: refused a connection from 127.0.0.1: its public key") ||
        !strstr(e, "is not in "))
        fail_msg("sink: %s", e);
}

static void test_plaintext_needs_insecure(void **state)
{
    (void)state;
    int sink, src;
    stream("", "", NULL, &sink, &src);
    assert_int_equal(src, 1);
    assert_int_equal(sink, 1);
    if (!strstr(err_of("src.err"), "link src.out: tcp:// links are encrypted and authenticated "
                                   "with CURVE"))
        fail_msg("src: %s", err_of("src.err"));
    stream("--insecure", "--insecure", NULL, &sink, &src);
    if (sink != 0 || src != 0)
        fail_msg("sink %d: %s\nsrc %d: %s", sink, err_of("sink.err"), src, err_of("src.err"));
    assert_non_null(strstr(err_of("src.err"), "warning: link src.out: --insecure: plaintext"));
    assert_non_null(strstr(err_of("sink.err"), "warning: link sink.in: --insecure: plaintext"));
    /* a plaintext peer against a CURVE end fails, both ends saying so */
    char opt[300];
    snprintf(opt, sizeof opt, "--keys=%s", tmpdir_at(dir, "shared"));
    stream(opt, "--insecure", NULL, &sink, &src);
    assert_int_equal(src, 1);
    assert_non_null(strstr(err_of("src.err"), "link src.out: the CURVE handshake with the peer failed"));
    assert_non_null(strstr(err_of("sink.err"), "link sink.in: a connection failed its CURVE handshake"));
}

static void test_readable_secret_refused(void **state)
{
    (void)state;
    const char *keys = tmpdir_at(dir, "loose");
    keygen(keys);
    assert_int_equal(chmod(tmpdir_at(keys, "secret.key"), 0644), 0);
    char opt[300];
    snprintf(opt, sizeof opt, "--keys=%s", keys);
    int sink, src;
    stream(opt, opt, NULL, &sink, &src);
    assert_int_equal(src, 1);
    assert_int_equal(sink, 1);
    if (!strstr(err_of("src.err"), "a secret key must be readable by its owner alone"))
        fail_msg("src: %s", err_of("src.err"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_stream_with_shared_keys),
        cmocka_unit_test(test_unknown_key_refused),
        cmocka_unit_test(test_plaintext_needs_insecure),
        cmocka_unit_test(test_readable_secret_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
