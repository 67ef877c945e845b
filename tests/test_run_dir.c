/* test_run_dir: the runner's control socket and its ipc:// link sockets are
 * private to the user who runs it (docs/pipelines.md, Security): while a
 * pipeline runs, its run directory is mode 0700 and owned by us, and a
 * process of another uid (a forked child that becomes `nobody`) can neither
 * list it nor connect to the sockets in it, while we can (the same connect
 * succeeds as us, so the test fails if the sockets were not there); the
 * directory is gone when the run ends. Needs
 * root to switch uid: skipped otherwise, saying so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "process.h"
#include "tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <grp.h>
#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[128];
static pid_t live;

/* The run directory, from a stage's --control=ipc://RUN/control. */
static bool run_dir_of(pid_t stage, char *buf, size_t cap)
{
    char path[64], args[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)stage);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, args, sizeof args - 1) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(args + i) + 1) {
        args[n] = '\0';
        const char *a = args + i, *key = "--control=ipc://";
        if (!strncmp(a, key, strlen(key))) {
            snprintf(buf, cap, "%s", a + strlen(key));
            char *slash = strrchr(buf, '/');
            if (slash)
                *slash = '\0';
            return slash != NULL;
        }
    }
    return false;
}

/* connect(2) to a unix socket: 0, or the errno. */
static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc = connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
    close(s);
    return rc;
}

/* In a child that is `nobody`: 0 when every way in is refused, else which one
 * got in (1 listing, 2 control, 3 a link socket), 99 when it cannot switch. */
static int as_nobody(const char *run_dir, const char *link_sock)
{
    pid_t pid = fork();
    if (pid == 0) {
        const struct passwd *pw = getpwnam("nobody");
        if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 || getuid() == 0)
            _exit(99);
        char control[300];
        snprintf(control, sizeof control, "%s/control", run_dir);
        DIR *d = opendir(run_dir);
        if (d || errno != EACCES)
            _exit(1);
        if (connect_unix(control) != EACCES)
            _exit(2);
        _exit(connect_unix(link_sock) == EACCES ? 0 : 3);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void test_other_uid_cannot_connect(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("test_run_dir: not root, so no other uid to try: skipped\n");
        skip();
    }
    char out[200], err[200];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/run.stderr", dir);
    const char *vars[] = {"batches=100000000", "-q", NULL};
    live = proc_run_start("run", "pipelines/frame-bench.pipe", out, err, vars);
    proc_info ps[8];
    size_t n = proc_wait_children(live, 3, ps, 8, 20);
    pid_t relay = proc_find(ps, n, "frame-relay");
    char run_dir[256];
    if (!relay || !run_dir_of(relay, run_dir, sizeof run_dir))
        fail_msg("no frame-relay with --control among the runner's children: %s", proc_slurp(err));
    struct stat st;
    assert_int_equal(stat(run_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    char control[300], link_sock[300];
    snprintf(control, sizeof control, "%s/control", run_dir);
    snprintf(link_sock, sizeof link_sock, "%s/relay.in", run_dir);
    /* we get in (once the relay has bound): the sockets are there and listening */
    for (int i = 0; i < 500 && connect_unix(link_sock) != 0; i++)
        usleep(10000);
    assert_int_equal(connect_unix(control), 0);
    assert_int_equal(connect_unix(link_sock), 0);
    int rc = as_nobody(run_dir, link_sock);
    if (rc == 99) {
        print_message("test_run_dir: cannot become nobody here: skipped\n");
        skip();
    }
    if (rc != 0)
        fail_msg("another uid got in to %s (%s)", run_dir,
                 rc == 1 ? "listed it" : rc == 2 ? "connected to control" : "connected to relay.in");
    /* Ctrl-C: drained, and the run directory goes with the run */
    kill(live, SIGINT);
    rc = proc_finish(live, 30, NULL);
    live = 0;
    assert_int_equal(rc, 130);
    assert_int_equal(stat(run_dir, &st), -1);
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "test_run_dir");
}

static int teardown(void **state)
{
    (void)state;
    proc_kill(&live);
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_uid_cannot_connect),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
