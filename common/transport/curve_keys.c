/* curve_keys: CURVE key files (see include/transport/curve_keys.h).
 * Invariants: a secret key is only ever written to a file created with mode
 * 0600 (never briefly wider) and only read from one nobody else may read; a
 * file that holds anything but well-formed Z85 keys is an error naming it. */
#include "transport/curve_keys.h"

#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define LINE_MAX_KEYS 512 /* a line of a key file: a key and a comment */

int curve_keys_valid(const char *z85)
{
    uint8_t raw[32];
    return strlen(z85) == CURVE_KEY_Z85 && zmq_z85_decode(raw, z85) != NULL;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* The first word of line (after blanks) into word, "" for a blank line or a
 * comment: '#' then anything but a key ('#' is a Z85 digit, so a key may start
 * with one). */
static void first_word(const char *line, char *word, size_t cap)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strcspn(line, " \t\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(word, line, n);
    word[n] = '\0';
    if (*line == '#' && !curve_keys_valid(word))
        n = 0;
    word[n] = '\0';
}

/* Writes text to path, created with mode (never replacing a file that exists):
 * through a temporary name, so the file appears whole or not at all. */
static int write_new(const char *path, const char *text, mode_t mode)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return err_set("%s: cannot create: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc < 0)
        err_set("%s: cannot write: %s", tmp, strerror(errno));
    else if (link(tmp, path) != 0) /* link, not rename: it fails when path exists */
        rc = err_set("%s: cannot create: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
}

/* Whether DIR/allowed lists key already. */
static int allowed_has(const char *dir, const char *key, int *has)
{
    curve_key *keys = NULL;
    size_t n = 0;
    char path[4200];
    path_in(path, sizeof path, dir, "allowed");
    *has = 0;
    if (access(path, F_OK) != 0)
        return 0;
    if (curve_keys_allowed(dir, &keys, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        *has |= !strcmp(keys[i], key);
    free(keys);
    return 0;
}

int curve_keys_generate(const char *dir)
{
    if (zmq_has("curve") != 1)
        return err_set("keygen: this libzmq was built without CURVE (libsodium)");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return err_set("%s: cannot create: %s", dir, strerror(errno));
    char pub[CURVE_KEY_Z85 + 1], sec[CURVE_KEY_Z85 + 1], path[4200], text[512];
    if (zmq_curve_keypair(pub, sec) != 0)
        return err_set("keygen: zmq_curve_keypair: %s", zmq_strerror(errno));
    path_in(path, sizeof path, dir, "secret.key");
    snprintf(text, sizeof text,
             "# spikesynth CURVE key pair (spikesynth keygen): keep this file private\n"
             "public-key %s\nsecret-key %s\n", pub, sec);
    if (write_new(path, text, 0600) < 0)
        return err_wrap("keygen (an existing key pair is never replaced)");
    path_in(path, sizeof path, dir, "public.key");
    snprintf(text, sizeof text, "%s\n", pub);
    unlink(path); /* belongs to the pair just made */
    if (write_new(path, text, 0644) < 0)
        return -1;
    int has;
    if (allowed_has(dir, pub, &has) < 0)
        return -1;
    path_in(path, sizeof path, dir, "allowed");
    FILE *f = fopen(path, "a");
    if (!f)
        return err_set("%s: cannot open: %s", path, strerror(errno));
    fprintf(f, "%s%s this key pair (spikesynth keygen)\n",
            ftell(f) == 0 ? "# public keys allowed to connect, one per line\n" : "", pub);
    if (fclose(f) != 0)
        return err_set("%s: cannot write: %s", path, strerror(errno));
    return 0;
}

int curve_keys_load(const char *dir, curve_pair *kp)
{
    char path[4200], line[LINE_MAX_KEYS];
    path_in(path, sizeof path, dir, "secret.key");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set("%s: cannot read the CURVE key pair: %s (make one with spikesynth keygen %s)",
                       path, strerror(e), dir);
    }
    if (st.st_mode & 077) {
        close(fd);
        return err_set("%s: mode %03o: a secret key must be readable by its owner alone "
                       "(chmod 600 %s)", path, (unsigned)(st.st_mode & 0777), path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return err_set("%s: cannot read: %s", path, strerror(errno));
    }
    kp->public_key[0] = kp->secret_key[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char name[32], key[CURVE_KEY_Z85 + 2];
        if (sscanf(line, "%31s %41s", name, key) != 2)
            continue;
        if (strlen(key) != CURVE_KEY_Z85) /* left empty: reported below */
            continue;
        if (!strcmp(name, "public-key"))
            memcpy(kp->public_key, key, sizeof kp->public_key);
        else if (!strcmp(name, "secret-key"))
            memcpy(kp->secret_key, key, sizeof kp->secret_key);
    }
    fclose(f);
    if (!curve_keys_valid(kp->public_key) || !curve_keys_valid(kp->secret_key))
        return err_set("%s: expected 'public-key Z85' and 'secret-key Z85' lines", path);
    return 0;
}

int curve_keys_allowed(const char *dir, curve_key **keys, size_t *n)
{
    char path[4200], line[LINE_MAX_KEYS];
    path_in(path, sizeof path, dir, "allowed");
    *keys = NULL;
    *n = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set("%s: cannot read the allowed keys: %s", path, strerror(errno));
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char word[CURVE_KEY_Z85 + 2];
        lineno++;
        first_word(line, word, sizeof word);
        if (!word[0])
            continue;
        if (!curve_keys_valid(word)) {
            rc = err_set("%s:%d: not a public key in Z85 (40 characters)", path, lineno);
            break;
        }
        curve_key *k = realloc(*keys, (*n + 1) * sizeof **keys);
        if (!k) {
            rc = err_set("out of memory");
            break;
        }
        *keys = k;
        memcpy(k[(*n)++], word, sizeof *k);
    }
    fclose(f);
    if (rc < 0) {
        free(*keys);
        *keys = NULL;
        *n = 0;
    }
    return rc;
}

int curve_keys_server(const char *dir, const char *given, curve_key out)
{
    char path[4200], line[LINE_MAX_KEYS];
    if (given && curve_keys_valid(given)) {
        memcpy(out, given, CURVE_KEY_Z85 + 1);
        return 0;
    }
    if (given && *given)
        snprintf(path, sizeof path, "%s", given);
    else
        path_in(path, sizeof path, dir, "public.key");
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set("%s: cannot read the server's public key: %s", path, strerror(errno));
    char word[CURVE_KEY_Z85 + 2] = "";
    while (!word[0] && fgets(line, sizeof line, f))
        first_word(line, word, sizeof word);
    fclose(f);
    if (!curve_keys_valid(word))
        return err_set("%s: expected a public key in Z85 (40 characters)", path);
    memcpy(out, word, CURVE_KEY_Z85 + 1);
    return 0;
}
