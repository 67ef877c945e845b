/* mnist_fixture: a small synthetic MNIST written by a test (IDX files as
 * data/mnist holds them), so pipelines train without downloading anything.
 * Each class has its own stroke template, so an autoencoder has something to
 * learn; image i of a split is the same on every call. */
#ifndef SPIKESYNTH_TEST_MNIST_FIXTURE_H
#define SPIKESYNTH_TEST_MNIST_FIXTURE_H

#include <stdint.h>

/* DATA_DIR/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte: n_train
 * training images, n_test test images (the test set repeats its first 200
 * drawings: beyond those only its length matters). Fails the test on error. */
void mnist_fixture_write(const char *data_dir, uint32_t n_train, uint32_t n_test);

#endif
