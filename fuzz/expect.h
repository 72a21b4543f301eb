/* EXPECT(cond): a failed expectation of a contract, found by the fuzzer. It aborts, so that
 * libFuzzer saves the input, after saying where (the file names the target). */
#ifndef SHMQ_FUZZ_EXPECT_H
#define SHMQ_FUZZ_EXPECT_H

#include <stdio.h>
#include <stdlib.h>

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif /* SHMQ_FUZZ_EXPECT_H */
