/* placement: where the stages of a pipeline run and how their links reach
 * each other when they run on several hosts (docs/pipelines.md, "Across hosts").
 *
 * `stage NAME @ HOST = PROGRAM ...` places a stage on HOST; the others are on
 * "local", the host of a runner started without --host. A host group is the
 * stages of one host: `spikesynth run FILE --host HOST` starts and supervises
 * that group alone, `spikesynth slurm` one group per Slurm task.
 *  - A link within a host is an ipc:// socket in the runner's run directory
 *    (frames through shared-memory lanes), as on one machine.
 *  - A link across hosts is tcp, secured with CURVE (the key directory of the
 *    `keys` variable): its in end binds tcp://(any address):PORT, its out end connects to
 *    tcp://ADDRESS:PORT. PORT is the link's own (a last word port=N on its
 *    line) or port_base (a variable, 5600 by default) plus the link's index in
 *    the file. ADDRESS is the in end's host looked up in the hosts file (the
 *    `hosts` variable, else $SPIKESYNTH_HOSTS): lines "NAME ADDRESS", '#'
 *    comments; a name it does not hold is its own address (DNS, /etc/hosts). */
#ifndef SPIKESYNTH_PLACEMENT_H
#define SPIKESYNTH_PLACEMENT_H

#include "transport/pipeline.h"

#include <stdbool.h>
#include <stddef.h>

#define PLACEMENT_LOCAL "local"

/* The stage's host: its @ HOST, or "local". */
const char *placement_host(const pipeline_stage *s);
/* Any stage is placed on a host other than local. */
bool placement_used(const pipeline *p);
/* The link joins stages of two hosts. */
bool placement_crosses(const pipeline *p, const pipeline_link *l);
/* The tcp port of link j. */
int placement_port(const pipeline *p, size_t j, int *port);
/* The address of host, from the hosts file or the name itself. */
int placement_address(const pipeline *p, const char *host, char *addr, size_t cap);
/* The host groups, in the order of their first stage in the file; at most cap
 * in groups (pointers into p). The number of groups. */
size_t placement_groups(const pipeline *p, const char **groups, size_t cap);
/* The group of host has a stage; an error naming the hosts the file has otherwise. */
int placement_check_host(const pipeline *p, const char *host);

#endif
