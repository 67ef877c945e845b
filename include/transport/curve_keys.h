/* curve_keys: the files of a CURVE key directory, which secure the tcp:// links
 * of a pipeline (ZeroMQ CURVE; docs/pipelines.md, "Security"):
 *
 *   DIR/secret.key   this end's key pair, public and secret (Z85), mode 0600
 *   DIR/public.key   its public key alone, to give to peers
 *   DIR/allowed      the public keys a binding end accepts, one per line, each
 *                    optionally followed by a comment; '#' lines are comments
 *
 * The binding end of a link is the CURVE server and checks the connecting end's
 * public key against DIR/allowed; the connecting end must know the server's
 * public key (by default DIR/public.key: the hosts of a pipeline share a key
 * directory, on a shared file system or copied). A secret key readable by
 * anyone but its owner is refused, as ssh refuses one. */
#ifndef SPIKESYNTH_CURVE_KEYS_H
#define SPIKESYNTH_CURVE_KEYS_H

#include <stddef.h>

#define CURVE_KEY_Z85 40 /* characters of a key in Z85 */

typedef struct {
    char public_key[CURVE_KEY_Z85 + 1], secret_key[CURVE_KEY_Z85 + 1];
} curve_pair;

typedef char curve_key[CURVE_KEY_Z85 + 1];

/* Makes DIR (mode 0700) if needed and writes a new key pair there; adds its
 * public key to DIR/allowed. Never replaces an existing secret.key. */
int curve_keys_generate(const char *dir);
/* Reads DIR/secret.key (refused unless only its owner may read it). */
int curve_keys_load(const char *dir, curve_pair *kp);
/* The keys of DIR/allowed, in *keys (malloc'd; free it), *n of them. */
int curve_keys_allowed(const char *dir, curve_key **keys, size_t *n);
/* The server key for a connecting end: given (a Z85 key, or a file whose first
 * word is one), or DIR/public.key when given is empty. */
int curve_keys_server(const char *dir, const char *given, curve_key out);
/* A Z85 text of exactly one 32-byte key. */
int curve_keys_valid(const char *z85);

#endif
