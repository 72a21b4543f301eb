// The public header compiled as C++ (the benchmarks and C++ users include it): it must
// parse, link without name mangling, and work.
#include <shmq.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);          \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main()
{
    std::string name = "test-cxx-" + std::to_string(getpid());
    shmq_config cfg{};
    cfg.kind = SHMQ_LIFO;
    cfg.capacity = 4;
    shmq_t *q = nullptr;
    CHECK(shmq_create(name.c_str(), &cfg, &q) == 0);
    const char text[] = "from C++";
    CHECK(shmq_push(q, text, sizeof text, 0) == 0);
    shmq_msg m{};
    CHECK(shmq_claim(q, &m, SHMQ_FOREVER) == 0);
    CHECK(m.len == sizeof text && std::memcmp(m.data, text, m.len) == 0);
    CHECK(shmq_ack(q, &m) == 0);
    CHECK(shmq_pop(q, nullptr, 0, 0) == -EAGAIN);
    struct shmq_stat st {
    }; // "struct": the name is also the function, as with stat(2)
    CHECK(shmq_stat(q, &st) == 0 && st.pushed == 1 && st.acked == 1);
    CHECK(std::strcmp(shmq_strerror(-EAGAIN), "queue is empty or full (would wait)") == 0);
    CHECK(shmq_close(q) == 0);
    CHECK(shmq_unlink(name.c_str()) == 0);
    std::puts("1 passed, 0 failed");
    return 0;
}
