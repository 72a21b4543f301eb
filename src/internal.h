/*
 * Every internal header of the library, for the tests, the fuzzers and the tools that look
 * inside a segment. Files in src/ include only the layer headers they use (see
 * docs/ARCHITECTURE.md).
 */
#ifndef SHMQ_INTERNAL_H
#define SHMQ_INTERNAL_H

#include "base.h"
#include "core.h"
#include "handle.h"
#include "participant.h"
#include "reaper.h"
#include "segment.h"

#endif /* SHMQ_INTERNAL_H */
