/*
 * lock: the slow paths of the one-word mutex (lock.h): spinning briefly on
 * a held lock, then sleeping on it with futex(2), and waking a sleeper.
 */
#include "lock.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Looks at a held lock before sleeping: a lookup holds it for well under a
 * microsecond, a sleep and a wake-up cost several. */
#define LOCK_SPINS 100

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void word_lock_wait(struct word_lock *l)
{
    for (int i = 0; i < LOCK_SPINS; i++) {
        cpu_relax();
        if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 && word_trylock(l))
            return;
    }
    /* Mark it contended (2) whoever holds it; if that found it free, it is ours. */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void word_lock_wake(struct word_lock *l)
{
    syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
