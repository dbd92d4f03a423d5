/*
 * lock: a mutex in one 32-bit word, for the hash table's stripes.
 *
 * Every request locks one stripe, and there are thousands of them: a
 * pthread mutex is 40 bytes (with the stripe's fields, two cache lines a
 * stripe) and its lock and unlock are calls of some thirty instructions
 * each.  This one is four bytes, and taking or letting go of it when free
 * is one inline atomic instruction.  A thread that finds it held spins a
 * little (holders keep it for a lookup), then sleeps on the word (futex),
 * so a holder that was preempted costs its waiters no CPU.
 *
 * The word (Drepper, "Futexes Are Tricky", mutex 3): 0 free, 1 held, 2
 * held and someone may sleep on it, so that letting go must wake one.
 * Acquire and release order make what one holder wrote visible to the next,
 * as a mutex does (ThreadSanitizer sees it through the atomics).
 */
#ifndef MCD_LOCK_H
#define MCD_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct word_lock {
    _Atomic uint32_t state;
};

/* The slow paths: wait for a held lock, wake a sleeper (lock.c). */
void word_lock_wait(struct word_lock *l);
void word_lock_wake(struct word_lock *l);

/* A free lock. */
static inline void word_lock_init(struct word_lock *l)
{
    atomic_store_explicit(&l->state, 0, memory_order_relaxed);
}

/* Take the lock if it is free at once; whether it was taken. */
static inline bool word_trylock(struct word_lock *l)
{
    uint32_t free_ = 0;
    return atomic_compare_exchange_strong_explicit(&l->state, &free_, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Take the lock, waiting as long as it takes. */
static inline void word_lock(struct word_lock *l)
{
    if (!word_trylock(l))
        word_lock_wait(l);
}

/* Let go of the lock (the caller holds it). */
static inline void word_unlock(struct word_lock *l)
{
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
        word_lock_wake(l);
}

#endif
