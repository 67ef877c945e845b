/* lif_neuron: the dynamics of one population of leaky integrate-and-fire
 * neurons, apart from synapses and learning (paper eq. 1-4).
 *
 *   V[t] = (1 - leak) V[t-1] + Z[t]    (Z = the synaptic input of this step)
 *   S[t] = V[t] >= threshold,          V reset to 0 after a spike
 *
 * The V a loss or a gradient sees at step t is the value before the reset.
 * A neuron model is a value of neuron_model and a case in lif_neuron_step and
 * lif_surrogate_grad; a model with more state per neuron (a current-based
 * LIF's synaptic current) adds that state to lif_layer next to `membrane`. */
#ifndef SPIKESYNTH_LIF_NEURON_H
#define SPIKESYNTH_LIF_NEURON_H

#include <math.h>
#include <stdbool.h>

typedef enum {
    TRACE_PER_NEURON = 0, /* paper: per synapse, zeroed when its neuron spikes */
    TRACE_SHARED = 1,     /* authors' code: per input, scaled by the fraction not spiking */
} trace_mode;

typedef enum {
    NEURON_LIF = 0, /* the paper's: voltage-based, hard reset to 0 */
} neuron_model;

typedef struct {
    float leak;      /* a in V[t] = (1 - a) V[t-1] + Z[t] */
    float threshold; /* Vth; V resets to 0 after a spike */
    bool clamp;      /* authors' code: V = min(V, Vth) */
    trace_mode trace; /* the eligibility-trace variant (learning by traces only) */
    neuron_model model;
    float slope;      /* of the surrogate: dS/dV = k sigma'(k (V - Vth)); 1 is the paper's */
} lif_params;

/* The paper's: leak 0.1, threshold 1, no clamp, per-neuron traces, slope 1. */
lif_params lif_params_default(void);

/* One step of n neurons: membrane (after the last reset) and z in, v (before
 * reset), spikes (0/1) and the new membrane out. The count of spikes. */
static inline int lif_neuron_step(const lif_params *p, float *restrict membrane, const float *restrict z,
                                  float *restrict v, float *restrict spikes, int n)
{
    const float keep = 1.0f - p->leak, vth = p->threshold;
    const bool clamp = p->clamp;
    int fired = 0;
    for (int i = 0; i < n; i++) {
        float x = keep * membrane[i] + z[i];
        if (clamp && x > vth)
            x = vth;
        float s = x >= vth ? 1.0f : 0.0f;
        v[i] = x;
        spikes[i] = s;
        membrane[i] = s != 0.0f ? 0.0f : x;
        fired += s != 0.0f;
    }
    return fired;
}

/* The surrogate sigma'(x) = sigma(x) (1 - sigma(x)) of dS/dV at x = V - Vth; 0
 * where it would be denormal (|x| > 40), which keeps the hot loops off slow
 * denormal paths. */
static inline float lif_surrogate_grad(float x)
{
    float ax = x < 0 ? -x : x;
    if (ax > 40.0f)
        return 0.0f;
    float e = expf(-ax);
    float d = 1.0f + e;
    return e / (d * d);
}

/* dS/dV at V for the layer's threshold and slope (k = 1: exactly lif_surrogate_grad). */
static inline float lif_surrogate(const lif_params *p, float v)
{
    const float k = p->slope;
    return k * lif_surrogate_grad(k * (v - p->threshold));
}

#endif
