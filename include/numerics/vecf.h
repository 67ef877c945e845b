/* vecf: the CPU's vector of floats (GCC/clang vector extension) for the
 * numerics kernels. Element-wise, so the arithmetic is exactly the scalar
 * one, whatever the width: results do not depend on the machine's vectors. */
#ifndef SPIKESYNTH_VECF_H
#define SPIKESYNTH_VECF_H

#if defined(__AVX512F__)
#define VEC 16
#else
#define VEC 8
#endif
typedef float vecf __attribute__((vector_size(VEC * sizeof(float))));

#endif
