/* placement: host groups, ports and addresses of a placed pipeline (see
 * include/transport/placement.h). Reads the hosts file on each lookup: a
 * runner looks up a handful of hosts once, and the file may be written by
 * the Slurm job just before. */
#include "transport/placement.h"

#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *placement_host(const pipeline_stage *s) { return s->host ? s->host : PLACEMENT_LOCAL; }

bool placement_used(const pipeline *p)
{
    for (size_t i = 0; i < p->n_stages; i++)
        if (p->stages[i].host)
            return true;
    return false;
}

bool placement_crosses(const pipeline *p, const pipeline_link *l)
{
    return strcmp(placement_host(&p->stages[l->from]), placement_host(&p->stages[l->to])) != 0;
}

int placement_port(const pipeline *p, size_t j, int *port)
{
    if (p->links[j].port) {
        *port = p->links[j].port;
        return 0;
    }
    const char *base = pipeline_var_get(p, "port_base");
    char *end;
    long b = strtol(base ? base : "", &end, 10);
    /* b is bounded before the sum: strtol saturates at LONG_MAX */
    if (!base || !*base || *end || b < 1 || b > 65535 || b + (long)p->n_links > 65535)
        return err_set("%s: port_base=%s: the links' ports (port_base + 0..%zu) must lie in 1..65535",
                       p->path, base ? base : "", p->n_links - 1);
    *port = (int)(b + (long)j);
    return 0;
}

int placement_address(const pipeline *p, const char *host, char *addr, size_t cap)
{
    const char *file = pipeline_var_get(p, "hosts");
    if (!file || !*file)
        file = getenv("SPIKESYNTH_HOSTS");
    snprintf(addr, cap, "%s", host);
    if (!file || !*file)
        return 0;
    FILE *f = fopen(file, "re");
    if (!f)
        return err_set("%s: cannot read the hosts file: %s", file, strerror(errno));
    char line[1024], name[256], address[256];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        int n = sscanf(line, "%255s %255s", name, address);
        if (n <= 0 || name[0] == '#')
            continue;
        if (n != 2) {
            rc = err_set("%s:%d: expected 'NAME ADDRESS'", file, lineno);
            break;
        }
        if (!strcmp(name, host)) {
            snprintf(addr, cap, "%s", address);
            break;
        }
    }
    fclose(f);
    return rc;
}

size_t placement_groups(const pipeline *p, const char **groups, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_stages; i++) {
        const char *h = placement_host(&p->stages[i]);
        bool seen = false;
        for (size_t k = 0; k < n && k < cap; k++)
            seen |= !strcmp(groups[k], h);
        if (!seen) {
            if (n < cap)
                groups[n] = h;
            n++;
        }
    }
    return n;
}

int placement_check_host(const pipeline *p, const char *host)
{
    const char *groups[64];
    size_t n = placement_groups(p, groups, 64);
    for (size_t k = 0; k < n && k < 64; k++)
        if (!strcmp(groups[k], host))
            return 0;
    char names[1024] = "";
    size_t len = 0;
    for (size_t k = 0; k < n && k < 64 && len < sizeof names; k++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "", groups[k]);
    return err_set("%s: no stage is placed on host '%s' (its hosts: %s)", p->path, host, names);
}
