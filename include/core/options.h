/* options: the command-line interface of a stage, generated from a table.
 *
 * A stage declares its options (name, type, default, help) and its ports; the
 * parser adds the common options every stage takes (--name, --in, --out,
 * --control, --run-id, --seed, --log-level, link timeouts), accepts --opt=value
 * and --opt value (and --flag / --no-flag for bools), and produces --help text
 * and the machine-readable --describe listing that `spikesynth check` reads, and
 * answers --version (core/build_info.h).
 * A spec may bound a number (.min/.max, inclusive) or list a string's choices
 * (.choices = "text|json|none"); every value, the default too, is checked here
 * once, and --help shows the bounds. An empty value of a number, a bool or a
 * string with choices (--rate=, as a pipeline variable left empty gives it)
 * keeps the default and counts as not given (options_given). Errors name the option at fault. Values are
 * parsed once; getters never fail (asking for an undeclared option is a
 * programming error and asserts). */
#ifndef SPIKESYNTH_OPTIONS_H
#define SPIKESYNTH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { OPT_INT, OPT_FLOAT, OPT_STRING, OPT_BOOL, OPT_LIST } option_type;
typedef struct options options;

/* One option. def is parsed like a command-line value (NULL: 0, "", false, empty
 * list). min and max (OPT_INT, OPT_FLOAT) are parsed the same way; NULL: no
 * bound. choices (OPT_STRING): the accepted values separated by '|'; NULL: any.
 * The table ends with an entry whose name is NULL. */
/* What a path option names (option_spec.path), checked before any work by
 * core/preflight.h: a file (or directory) it reads, a file it writes, a
 * directory it writes into, and a file not to replace without --force. */
#define OPT_PATH_READ 1u
#define OPT_PATH_WRITE 2u
#define OPT_PATH_DIR 4u
#define OPT_PATH_KEEP 8u

typedef struct {
    const char *name;
    option_type type;
    const char *def;
    const char *help;
    const char *min, *max;
    const char *choices;
    unsigned path;        /* OPT_PATH_* flags: the value is a path (0: it is not) */
    const char *suffixes; /* the value is a prefix of these files ("-hidden.ssm|-output.ssm") */
    /* OPT_PATH_WRITE: the bytes each file will take, from the options (a
     * model's layer shapes); NULL: PREFLIGHT_MIN_FREE (core/preflight.h) */
    uint64_t (*bytes)(const options *o);
} option_spec;

typedef enum { PORT_IN, PORT_OUT } port_dir;
#define PORT_OPTIONAL 1u /* may be left unconnected */
#define PORT_FEEDBACK 2u /* in-port fed from downstream (training errors): its cycle is allowed */

/* One port. The table ends with an entry whose name is NULL. */
typedef struct {
    const char *name;
    port_dir dir;
    unsigned flags;
    const char *help;
} port_spec;

/* type: the program name ("frame-relay"); summary: one sentence for --help.
 * specs and ports may be NULL; they are borrowed and must outlive self. */
options *options_new(const char *type, const char *summary, const option_spec *specs,
                     const port_spec *ports);
void options_destroy(options **self_p);

/* 0: run. 1: --help (-h), --version or --describe was asked for and printed to
 * out; exit 0.
 * -1: a bad command line, err_msg() names the option. */
int options_parse(options *self, int argc, char **argv, FILE *out);

int64_t options_int(const options *self, const char *name);
double options_float(const options *self, const char *name);
const char *options_str(const options *self, const char *name);
bool options_bool(const options *self, const char *name);
size_t options_count(const options *self, const char *name); /* OPT_LIST entries */
const char *options_item(const options *self, const char *name, size_t i);
/* Whether the option was given on the command line (rather than defaulted). */
bool options_given(const options *self, const char *name);

const char *options_type(const options *self);
/* The specs, stage options first then the common ones (preflight walks them). */
size_t options_n_specs(const options *self);
const option_spec *options_spec_at(const options *self, size_t i);
const port_spec *options_ports(const options *self); /* NULL-terminated, never NULL */

void options_help(const options *self, FILE *out);
/* "spikesynth-describe 1", then "type T", "port NAME in|out [optional] [feedback]"
 * and "option NAME TYPE" lines. */
void options_describe(const options *self, FILE *out);

#endif
