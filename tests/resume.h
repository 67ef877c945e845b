/* resume: what the resume tests share (tests/test_resume.c, the audiocoder's
 * in tests/test_audiocoder.c): kill a training stage once its checkpoints
 * exist, and check that the resumed run's models are those of a run never
 * stopped. Assertions use cmocka. */
#ifndef SPIKESYNTH_TEST_RESUME_H
#define SPIKESYNTH_TEST_RESUME_H

#include <stddef.h>
#include <sys/types.h>

/* Waits (up to 60 s) until the model file `model` has `count` complete
 * checkpoints (2 for one stage of several: every layer then holds the first),
 * then SIGKILLs victim, a child of parent (the runner) by its command name, or
 * parent itself when victim is NULL. Fails quoting err_path when none came. */
void resume_kill_after_checkpoints(pid_t parent, const char *victim, const char *model, int count,
                                   const char *err_path);

/* REF-LAYER.ssm and GOT-LAYER.ssm are the same bytes for each of the n layers,
 * and GOT's checkpoints are gone (a completed run removes them). */
void resume_assert_same_models(const char *ref, const char *got, const char *const *layers, int n);

#endif
