/* test_hosts: a training pipeline across hosts, the hosts being network
 * namespaces joined by a bridge (scripts/netns-hosts; run from the repo root,
 * after make, as root): train-ae-mnist.pipe with the source on host 1 (local),
 * the encoder on host 2 and the decoder on host 3, one runner per host
 * (`spikesynth run --host`), their links tcp with CURVE:
 *  - the weights are bit-identical to the same training on one host;
 *  - the encoder host's link cut mid-training (`ip link set down`) ends every
 *    runner within the link timeout (--timeout=3 here, 10 s by default), with
 *    a line naming the link and its hosts, no process left, no model file;
 *  - the encoder stopped (SIGSTOP) is caught the same way by its peers across
 *    hosts and by its own runner;
 *  - Slurm: a one-node cluster started here (munged, slurmctld, slurmd, with
 *    a configuration of the test's own) runs the batch script of `spikesynth
 *    slurm` for the same graph, three tasks on the node, and the weights are
 *    again those of the one-host run.
 * Skips, saying why, only where it cannot run: not root, no ip(8), no Slurm.
 * KEEP=1 (debugging) keeps DIR and makes the runners verbose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "data/model.h"
#include "mnist_fixture.h"
#include "process.h"
#include "tmpdir.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IP "/usr/sbin/ip"
#define N_TRAIN 200
#define TIMEOUT 3 /* the runners' --timeout in the fault tests */

static char dir[256], prefix[32], why_not[256];
static char v_data[300], v_hosts[300], v_keys[300], v_port[64];
static int port_base;
static pid_t runners[3];
static pid_t daemons[3]; /* munged, slurmctld, slurmd */

/* Runs a shell command made from fmt: its status; sh fails the test unless 0. */
static int run_sh(const char *fmt, va_list ap)
{
    char cmd[1024];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    int rc = system(cmd);
    if (rc != 0)
        print_message("exit %d: %s\n", rc, cmd);
    return rc;
}
static int sh_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh_status(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_sh(fmt, ap);
    va_end(ap);
    return rc;
}
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = run_sh(fmt, ap);
    va_end(ap);
    assert_int_equal(rc, 0);
}

static int group_setup(void **state)
{
    (void)state;
    if (tmpdir_make(dir, sizeof dir, "test_hosts") < 0)
        return -1;
    snprintf(prefix, sizeof prefix, "ssh%d", (int)(getpid() % 100000));
    if (geteuid() != 0)
        snprintf(why_not, sizeof why_not, "network namespaces need root");
    else if (access(IP, X_OK) != 0)
        snprintf(why_not, sizeof why_not, "no %s (iproute2)", IP);
    else if (sh_status("scripts/netns-hosts up %s 3 > %s/ns.hosts", prefix, dir) != 0)
        snprintf(why_not, sizeof why_not, "scripts/netns-hosts could not make namespaces");
    if (why_not[0])
        return 0;
    FILE *f = fopen(tmpdir_at(dir, "hosts"), "w");
    fprintf(f, "# the hosts of the test: namespaces %s-1..3\nlocal 10.200.0.1\n"
               "enc-host 10.200.0.2\ndec-host 10.200.0.3\n", prefix);
    fclose(f);
    snprintf(v_data, sizeof v_data, "data=%s", tmpdir_at(dir, "data"));
    snprintf(v_hosts, sizeof v_hosts, "hosts=%s", tmpdir_at(dir, "hosts"));
    snprintf(v_keys, sizeof v_keys, "keys=%s", tmpdir_at(dir, "keys"));
    port_base = 20000 + (int)(getpid() % 2000) * 16;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (prefix[0] && geteuid() == 0)
        sh_status("scripts/netns-hosts down %s", prefix);
    if (getenv("KEEP"))
        return 0;
    return tmpdir_remove(dir);
}

static int reap(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        proc_kill(&runners[i]);
    if (!why_not[0]) /* the cut link back, whatever the test did */
        sh_status(IP " -n %s-br link set h2 up", prefix);
    return 0;
}

/* Skips the test when the namespaces could not be made; the fixture, once. */
static void need_hosts(void)
{
    if (why_not[0]) {
        print_message("[  SKIP    ] test_hosts: %s\n", why_not);
        skip();
    }
    static bool made;
    if (made)
        return;
    mnist_fixture_write(tmpdir_at(dir, "data"), N_TRAIN, 60);
    const char *argv[] = {"bin/spikesynth", "keygen", tmpdir_at(dir, "keys"), NULL};
    assert_int_equal(proc_finish(proc_spawn(argv, tmpdir_at(dir, "keygen.err")), 10, NULL), 0);
    made = true;
}

/* Starts the runner of host k (1: local, 2: enc-host, 3: dec-host) in its
 * namespace: train-ae-mnist with the test's variables, tag naming the model
 * (DIR/TAG-{encoder,decoder}.ssm), the output (DIR/TAG-K) and stderr (DIR/TAG-K.err). */
static pid_t start_host(int k, const char *tag, const char *epochs, const char *timeout)
{
    static const char *const host_opt[] = {NULL, NULL, "--host=enc-host", "--host=dec-host"};
    char ns[48], model[300], out[300], err[300];
    snprintf(ns, sizeof ns, "%s-%d", prefix, k);
    snprintf(model, sizeof model, "model=%s/%s", dir, tag);
    snprintf(out, sizeof out, "out=%s/%s-%d", dir, tag, k);
    snprintf(err, sizeof err, "%s/%s-%d.err", dir, tag, k);
    const char *argv[] = {IP, "netns", "exec", ns, "bin/spikesynth", "run",
                          "pipelines/train-ae-mnist.pipe", v_data, v_hosts, v_keys, v_port,
                          "enc_host=enc-host", "dec_host=dec-host", "train_limit=200", "batch=50",
                          "hidden=32", "seed=7", model, out, epochs, getenv("KEEP") ? "-v" : "-q", timeout,
                          host_opt[k], NULL};
    return proc_spawn(argv, err);
}

static void start_all(const char *tag, const char *epochs, const char *timeout)
{
    /* ports of each run's own: nothing left of the last run can answer */
    snprintf(v_port, sizeof v_port, "port_base=%d", port_base);
    port_base += 5;
    for (int k = 3; k >= 1; k--)
        runners[k - 1] = start_host(k, tag, epochs, timeout);
}

static const char *err_of(const char *tag, int k)
{
    char name[64];
    snprintf(name, sizeof name, "%s-%d.err", tag, k);
    return proc_slurp(tmpdir_at(dir, name));
}

static void expect_same_weights(const char *a, const char *b)
{
    char pa[300], pb[300];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    model *ma = model_load(pa), *mb = model_load(pb);
    if (!ma || !mb)
        fail_msg("%s", err_msg());
    assert_int_equal(ma->n_in, mb->n_in);
    assert_int_equal(ma->n_out, mb->n_out);
    if (memcmp(ma->w, mb->w, (size_t)ma->n_in * (size_t)ma->n_out * sizeof(float)) != 0)
        fail_msg("%s and %s: the weights differ", a, b);
    model_destroy(&ma);
    model_destroy(&mb);
}

static void test_same_weights_across_hosts(void **state)
{
    (void)state;
    need_hosts();
    /* one host: the same file, nothing placed */
    char model[300], out[300];
    snprintf(model, sizeof model, "model=%s/one", dir);
    snprintf(out, sizeof out, "%s/one", dir);
    const char *vars[] = {v_data, "train_limit=200", "batch=50", "hidden=32", "seed=7", model,
                          "-q", NULL};
    int rc = proc_finish(proc_run_start("run", "pipelines/train-ae-mnist.pipe", out,
                                        tmpdir_at(dir, "one.err"), vars), 60, NULL);
    if (rc != 0)
        fail_msg("one host: exit %d: %s", rc, proc_slurp(tmpdir_at(dir, "one.err")));
    start_all("three", "epochs=1", "--timeout=10");
    for (int k = 1; k <= 3; k++) {
        rc = proc_finish(runners[k - 1], 60, NULL);
        runners[k - 1] = 0;
        if (rc != 0)
            fail_msg("host %d: exit %d: %s", k, rc, err_of("three", k));
    }
    expect_same_weights("one-encoder.ssm", "three-encoder.ssm");
    expect_same_weights("one-decoder.ssm", "three-decoder.ssm");
    char log[300];
    snprintf(log, sizeof log, "%s/three-2/logs/enc.log", dir);
    if (!strstr(proc_slurp(log), "links up: 0 through shared memory, 3 over ZeroMQ"))
        fail_msg("enc.log: %s", proc_slurp(log));
}

/* Starts a long training (--timeout=TIMEOUT) on the three hosts and waits
 * until every runner has its stages and they have trained a while; their
 * stages in ps (at most 8), the count in *n. */
static void start_long(const char *tag, proc_info *ps, size_t *n)
{
    need_hosts();
    char timeout[32];
    snprintf(timeout, sizeof timeout, "--timeout=%d", TIMEOUT);
    start_all(tag, "epochs=100", timeout);
    static const size_t want[] = {2, 1, 1}; /* src + poisson; enc; dec */
    *n = 0;
    for (int k = 0; k < 3; k++)
        assert_int_equal(proc_wait_children(runners[k], want[k], ps + *n, 8 - *n, 10), want[k]);
    usleep(1500 * 1000); /* past READY/GO: batches are flowing */
    for (int k = 0; k < 3; k++)
        *n += proc_children(runners[k], ps + *n, 8 - *n);
    assert_int_equal(*n, 4);
}

/* Every runner fails within limit seconds; each one's stderr has want. */
static void expect_all_fail(const char *tag, double limit, const char *want)
{
    double t0 = clock_now();
    for (int k = 1; k <= 3; k++) {
        int rc = proc_finish(runners[k - 1], limit - (clock_now() - t0), NULL);
        runners[k - 1] = 0;
        if (rc != 1)
            fail_msg("host %d: exit %d after %.1f s (expected 1 within %g s): %s", k, rc,
                     clock_now() - t0, limit, err_of(tag, k));
        if (want && !strstr(err_of(tag, k), want))
            fail_msg("host %d does not say '%s': %s", k, want, err_of(tag, k));
    }
    print_message("all runners ended %.1f s after the fault\n", clock_now() - t0);
}

static void test_link_cut(void **state)
{
    (void)state;
    proc_info ps[8];
    size_t n;
    start_long("cut", ps, &n);
    sh("scripts/netns-hosts cut %s 2", prefix); /* the encoder's host drops off */
    /* silence for TIMEOUT, then SIGTERM/SIGKILL (2 s) at most */
    expect_all_fail("cut", TIMEOUT + 4, NULL);
    /* one line naming the link and the hosts (the link that failed first: the
     * one to the encoder, or one to a peer that waited on the encoder) */
    for (int k = 1; k <= 3; k++) {
        static const char *const host[] = {NULL, "local (10.200.0.1)", "enc-host (10.200.0.2)",
                                           "dec-host (10.200.0.3)"};
        const char *e = err_of("cut", k), *line = strstr(e, "spikesynth: error: stage ");
        if (!line || !strstr(line, " joins hosts ") || !strstr(line, host[k]))
            fail_msg("host %d: no line naming the link and its hosts: %s", k, e);
    }
    proc_assert_all_gone(ps, n);
    /* no model file, whole or in part */
    assert_int_not_equal(access(tmpdir_at(dir, "cut-encoder.ssm"), F_OK), 0);
    assert_int_not_equal(access(tmpdir_at(dir, "cut-decoder.ssm"), F_OK), 0);
    tmpdir_assert_no_temp(dir);
}

static void test_stopped_stage(void **state)
{
    (void)state;
    proc_info ps[8];
    size_t n;
    start_long("stop", ps, &n);
    pid_t enc = proc_find(ps, n, "ae-encoder");
    assert_true(enc > 0);
    kill(enc, SIGSTOP);
    expect_all_fail("stop", TIMEOUT + 3, NULL);
    if (!strstr(err_of("stop", 2), "stage enc (ae-encoder) has been stopped for 3 s"))
        fail_msg("host 2: %s", err_of("stop", 2));
    if (!strstr(err_of("stop", 3), "dec-host (10.200.0.3)"))
        fail_msg("host 3: %s", err_of("stop", 3));
    proc_assert_all_gone(ps, n);
}

/* ---- Slurm ---------------------------------------------------------------------- */

/* A one-node Slurm of the test's own in DIR/slurm: munged with its own key and
 * socket, slurmctld and slurmd on ports of this run; SLURM_CONF for the
 * commands. Waits for the node to be idle. */
static void slurm_start(void)
{
    const char *s = tmpdir_at(dir, "slurm");
    char host[256], path[512];
    gethostname(host, sizeof host);
    host[strcspn(host, ".")] = '\0';
    sh("mkdir -p %s/state %s/spool %s/munge && chmod 700 %s/munge && head -c 1024 /dev/urandom > "
       "%s/munge/key && chmod 400 %s/munge/key", s, s, s, s, s, s);
    int port = 30000 + (int)(getpid() % 10000) * 2;
    snprintf(path, sizeof path, "%s/slurm.conf", s);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "ClusterName=spikesynth-test\nSlurmctldHost=%s(127.0.0.1)\nSlurmctldPort=%d\n"
               "SlurmdPort=%d\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\n"
               "AuthInfo=socket=%s/munge/sock\nStateSaveLocation=%s/state\n"
               "SlurmdSpoolDir=%s/spool\nSlurmctldPidFile=%s/ctld.pid\nSlurmdPidFile=%s/d.pid\n"
               "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
               "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nMpiDefault=none\n"
               "ReturnToService=2\nSchedulerType=sched/builtin\nJobAcctGatherType=jobacct_gather/none\n"
               "AccountingStorageType=accounting_storage/none\nSlurmdParameters=config_overrides\n"
               "NodeName=%s NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN\n"
               "PartitionName=test Nodes=ALL Default=YES MaxTime=10 State=UP OverSubscribe=YES\n",
            host, port, port + 1, s, s, s, s, s, host);
    fclose(f);
    setenv("SLURM_CONF", path, 1);
    char sock[300], key[300], pid[300], log[300], seed[300];
    snprintf(sock, sizeof sock, "--socket=%s/munge/sock", s);
    snprintf(key, sizeof key, "--key-file=%s/munge/key", s);
    snprintf(pid, sizeof pid, "--pid-file=%s/munge/pid", s);
    snprintf(log, sizeof log, "--log-file=%s/munge/log", s);
    snprintf(seed, sizeof seed, "--seed-file=%s/munge/seed", s);
    const char *munged[] = {"/usr/sbin/munged", "-F", "--force", sock, key, pid, log, seed, NULL};
    const char *ctld[] = {"/usr/sbin/slurmctld", "-D", "-i", NULL};
    const char *slurmd[] = {"/usr/sbin/slurmd", "-D", NULL};
    daemons[0] = proc_spawn(munged, tmpdir_at(s, "munged.err"));
    usleep(300 * 1000);
    daemons[1] = proc_spawn(ctld, tmpdir_at(s, "slurmctld.err"));
    daemons[2] = proc_spawn(slurmd, tmpdir_at(s, "slurmd.err"));
    double t0 = clock_now();
    while (sh_status("sinfo -h -o %%T 2>/dev/null | grep -q idle") != 0) {
        if (clock_now() - t0 > 30)
            fail_msg("the test's Slurm node is not idle after 30 s: %s %s",
                     proc_slurp(tmpdir_at(s, "slurmctld.err")), proc_slurp(tmpdir_at(s, "slurmd.err")));
        usleep(300 * 1000);
    }
}

/* The daemons, by their pids: SIGTERM, then SIGKILL if they linger. */
static int slurm_stop(void **state)
{
    reap(state);
    for (int i = 2; i >= 0; i--)
        if (daemons[i] > 0) {
            kill(daemons[i], SIGTERM);
            if (proc_finish(daemons[i], 10, NULL) < 0)
                print_message("daemon %d did not stop on SIGTERM\n", (int)daemons[i]);
            daemons[i] = 0;
        }
    return 0;
}

static void test_slurm(void **state)
{
    (void)state;
    need_hosts(); /* the fixture and keys; the reference is test 1's one-host run */
    if (access("/usr/sbin/slurmctld", X_OK) || access("/usr/sbin/slurmd", X_OK) ||
        access("/usr/sbin/munged", X_OK)) {
        print_message("[  SKIP    ] test_hosts: no Slurm (slurm-wlm, munge)\n");
        skip();
    }
    assert_int_equal(access(tmpdir_at(dir, "one-encoder.ssm"), F_OK), 0);
    slurm_start();
    char model[300], out[300], job[300];
    snprintf(model, sizeof model, "model=%s/slurm", dir);
    snprintf(out, sizeof out, "out=%s/slurm-out", dir);
    snprintf(job, sizeof job, "%s/job.sh", dir);
    snprintf(v_port, sizeof v_port, "port_base=%d", port_base);
    sh("bin/spikesynth slurm pipelines/train-ae-mnist.pipe enc_host=enc-host dec_host=dec-host "
       "'%s' '%s' '%s' '%s' '%s' train_limit=200 batch=50 hidden=32 seed=7 -q > %s", v_data, v_keys,
       v_port, model, out, job);
    /* three tasks on the one node: more than --nodes=3 allows, hence the override */
    int rc = sh_status("cd %s && sbatch --wait --nodes=1 --time=2 -o %s/job.out %s > /dev/null", dir,
                       dir, job);
    if (rc != 0)
        fail_msg("sbatch: %d: %s", rc, proc_slurp(tmpdir_at(dir, "job.out")));
    expect_same_weights("one-encoder.ssm", "slurm-encoder.ssm");
    expect_same_weights("one-decoder.ssm", "slurm-decoder.ssm");
    /* each host's runner, with its own summary */
    char summary[300];
    snprintf(summary, sizeof summary, "%s/slurm-out/run-enc-host.json", dir);
    assert_non_null(strstr(proc_slurp(summary), "\"status\": \"ok\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_same_weights_across_hosts, reap),
        cmocka_unit_test_teardown(test_link_cut, reap),
        cmocka_unit_test_teardown(test_stopped_stage, reap),
        cmocka_unit_test_teardown(test_slurm, slurm_stop),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
