/* Unit tests of storage/lock.h: the one-word mutex of the table's stripes —
 * trylock, mutual exclusion when threads outnumber the cores, and a waiter
 * that went to sleep being woken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <cmocka.h>

#include "lock.h"

static void test_trylock_takes_a_free_lock_only(void **state)
{
    (void)state;
    struct word_lock l;
    word_lock_init(&l);
    assert_true(word_trylock(&l));
    assert_false(word_trylock(&l));
    word_unlock(&l);
    assert_true(word_trylock(&l));
    word_unlock(&l);
    word_lock(&l);
    assert_false(word_trylock(&l));
    word_unlock(&l);
}

#define THREADS 8
#define ROUNDS 200000

static struct word_lock shared;
static uint64_t counter;        /* guarded by `shared` alone */

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        word_lock(&shared);
        counter++;
        if (i % 1000 == 0)
            sched_yield();      /* now and then, hold it across a switch */
        word_unlock(&shared);
    }
    return NULL;
}

static void test_eight_threads_on_two_cores_lose_no_increment(void **state)
{
    (void)state;
    word_lock_init(&shared);
    counter = 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(counter, (uint64_t)THREADS * ROUNDS);
    assert_int_equal(atomic_load(&shared.state), 0);
}

static void *wait_for_it(void *arg)
{
    (void)arg;
    word_lock(&shared);         /* held by the test: spins, then sleeps */
    counter++;
    word_unlock(&shared);
    return NULL;
}

static void test_a_sleeping_waiter_is_woken_by_unlock(void **state)
{
    (void)state;
    word_lock_init(&shared);
    counter = 0;
    word_lock(&shared);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_for_it, NULL), 0);
    /* Once the waiter marks the lock contended it sleeps in the kernel. */
    while (atomic_load(&shared.state) != 2)
        sched_yield();
    assert_int_equal(counter, 0);
    word_unlock(&shared);
    pthread_join(t, NULL);
    assert_int_equal(counter, 1);
    assert_int_equal(atomic_load(&shared.state), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trylock_takes_a_free_lock_only),
        cmocka_unit_test(test_eight_threads_on_two_cores_lose_no_increment),
        cmocka_unit_test(test_a_sleeping_waiter_is_woken_by_unlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
