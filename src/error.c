/* Words for error codes. */
#include <string.h>

#include "base.h"
#include "shmq.h"

const char *shmq_strerror(int err)
{
    switch (err < 0 ? -err : err) {
    case 0:
        return "success";
    case EAGAIN:
        return "queue is empty or full (would wait)";
    case ETIMEDOUT:
        return "timed out";
    case EMSGSIZE:
        return "message larger than the slot, or larger than the buffer";
    case ENOENT:
        return "no such queue or topic";
    case EEXIST:
        return "queue already exists";
    case EACCES:
        return "permission denied";
    case ENOSPC:
        return "no space left in /dev/shm";
    case EBADMSG:
        return "corrupt or incomplete segment";
    case EPROTO:
        return "segment made by an incompatible version of shmq";
    case EINVAL:
        return "invalid argument";
    case EBUSY:
        return "role already taken (single producer or consumer queue)";
    case EUSERS:
        return "participant table full";
    case EPERM:
        return "not permitted on an observer handle";
    case ENOMEM:
        return "out of memory";
    case ENAMETOOLONG:
        return "name too long";
    case EALREADY:
        return "message already finished";
    case EMEDIUMTYPE:
        return "a topic where a queue was expected, or the other way round";
    case EINPROGRESS:
        return "this handle already holds a claim or reservation (SPSC: one at a time)";
    case EINTR:
        return "interrupted by a signal";
    case ESTALE:
        return "the message a zero-copy view showed was overwritten";
    case ENOTSUP:
        return "not supported on this machine (memory binding or thread pinning)";
    default:
        return "unknown error";
    }
}

const char *shmq_version(void)
{
    return SHMQ_VERSION_STRING;
}
