/* The table of calls a program makes through memprof.h (exported as
 * memprof_api_v1), the recording pause, and the signal that toggles it.
 *
 * A pause is process-wide and only stops the recording of allocations:
 * frees are still recorded, so that a block allocated while recording and
 * freed during a pause is not taken for a leak. Pauses, resumptions and
 * phases go to the collector as MP_MSG_CONTROL messages stamped like
 * events; the caller's thread state is held (busy) meanwhile, so that the
 * flusher cannot mark its stream past the stamp before the message is
 * sent, and the collector places the control exactly among the events.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "memprof.h"

#define MP_EXPORT __attribute__((visibility("default")))

_Atomic int mp_paused;
static atomic_uint pool_counter;

/* Sends a control (and a phase's name) stamped now. in_handler: from a
   signal handler, where no thread state may be created. */
static void send_control(uint32_t what, const char *name, int in_handler)
{
	struct {
		struct mp_control c;
		char name[MP_NAME_MAX];
	} msg;
	size_t len = name ? strnlen(name, MP_NAME_MAX) : 0;
	struct mp_thread *t = in_handler ? mp_thread_hold() : mp_thread_enter();
	msg.c.stamp = mp_stamp();
	msg.c.time_ns = mp_now_ns();
	msg.c.what = what;
	msg.c.flags = mp_use_tsc ? MP_CONTROL_TSC : 0;
	if (len)
		memcpy(msg.name, name, len);
	mp_send(MP_MSG_CONTROL, 0, &msg, sizeof(msg.c) + len);
	if (t)
		mp_thread_leave(t);
}

static void set_paused(int on, int in_handler)
{
	if (atomic_exchange(&mp_paused, on) == on)
		return;
	if (atomic_load(&mp_state) == MP_ON)
		send_control(on ? MP_CONTROL_PAUSE : MP_CONTROL_RESUME, NULL, in_handler);
}

static memprof_pool_t api_pool_create(const char *name)
{
	struct {
		uint32_t id;
		char name[MP_NAME_MAX];
	} msg;
	msg.id = atomic_fetch_add(&pool_counter, 1) + 1;
	size_t len = name ? strnlen(name, MP_NAME_MAX) : 0;
	if (len)
		memcpy(msg.name, name, len);
	if (atomic_load(&mp_state) == MP_ON)
		mp_send(MP_MSG_POOL, 0, &msg, sizeof(msg.id) + len);
	return (memprof_pool_t)(uintptr_t)msg.id;
}

static inline uint32_t pool_id(memprof_pool_t pool)
{
	return (uint32_t)(uintptr_t)pool;
}

static void api_alloc(memprof_pool_t pool, const void *ptr, size_t size)
{
	if (!pool || !ptr || atomic_load_explicit(&mp_paused, memory_order_relaxed))
		return;
	struct mp_thread *t = mp_thread_enter();
	if (t) {
		mp_record_pool_alloc(t, pool_id(pool), ptr, size);
		mp_thread_leave(t);
	}
}

static void api_free(memprof_pool_t pool, const void *ptr)
{
	if (!pool || !ptr)
		return;
	struct mp_thread *t = mp_thread_enter();
	if (t) {
		mp_record_pool_free(t, pool_id(pool), ptr);
		mp_thread_leave(t);
	}
}

static void api_realloc(memprof_pool_t pool, const void *old_ptr, const void *new_ptr, size_t size)
{
	if (!pool || (!new_ptr && size)) /* a failure: old_ptr is unchanged */
		return;
	struct mp_thread *t = mp_thread_enter();
	if (!t)
		return;
	if (old_ptr)
		mp_record_pool_free(t, pool_id(pool), old_ptr);
	if (new_ptr && !atomic_load_explicit(&mp_paused, memory_order_relaxed))
		mp_record_pool_alloc(t, pool_id(pool), new_ptr, size);
	mp_thread_leave(t);
}

static void api_pause(void)
{
	set_paused(1, 0);
}

static void api_resume(void)
{
	set_paused(0, 0);
}

static void api_phase(const char *name)
{
	if (atomic_load(&mp_state) == MP_ON)
		send_control(MP_CONTROL_PHASE, name ? name : "", 0);
}

MP_EXPORT extern const struct memprof_api_v1 memprof_api_v1;
const struct memprof_api_v1 memprof_api_v1 = {
        .version = MEMPROF_API_VERSION,
        .size = sizeof(struct memprof_api_v1),
        .pool_create = api_pool_create,
        .alloc = api_alloc,
        .free = api_free,
        .realloc = api_realloc,
        .pause = api_pause,
        .resume = api_resume,
        .phase = api_phase,
};

void mp_api_init(void)
{
	const char *env = getenv("MEMPROF_START_PAUSED");
	if (env && *env && *env != '0')
		atomic_store(&mp_paused, 1);
}

void mp_api_started(void)
{
	if (atomic_load(&mp_paused))
		send_control(MP_CONTROL_PAUSE, NULL, 0);
}

static void on_toggle(int sig)
{
	(void)sig;
	int saved = errno;
	set_paused(!atomic_load(&mp_paused), 1);
	errno = saved;
}

void mp_api_install_toggle(void)
{
	const char *env = getenv("MEMPROF_TOGGLE_SIGNAL");
	int sig = SIGUSR2;
	if (env && *env) {
		char *end;
		long v = strtol(env, &end, 10);
		if (*end || v <= 0 || v >= NSIG)
			return;
		sig = (int)v;
	}
	if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	    sig == SIGABRT)
		return;
	/* A handler (or SIG_IGN) the program inherited stays. */
	struct sigaction old;
	if (sigaction(sig, NULL, &old) || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
		return;
	struct sigaction sa = {.sa_handler = on_toggle, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}
