/* Encoding allocation chunks on a thread of their own; see cli/encoder.h. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "encoder.h"

/* A chunk handed over: its records until encoded (recs NULL after), then
   its data. */
struct job {
	struct job *next;
	int64_t process_id;
	struct mp_alloc_rec *recs;
	size_t n;
	void *data;
	size_t len;
	int rc;
};

struct mp_encoder {
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job came, or stop */
	pthread_cond_t done; /* a job was encoded */
	pthread_t thread;
	int have_thread, stop;
	struct job *head, *tail; /* every job not taken back, oldest first */
	struct job *todo;        /* the oldest not encoded, or NULL */
	size_t waiting;          /* jobs not encoded */
	struct mp_alloc_rec *spare[MP_ENCODER_QUEUE + 1];
	size_t nspare;
};

/* Encodes j (without mu held) and keeps its buffer for a later
   mp_encoder_put. Once encoded, j may be taken back and freed at once:
   the queue moves on here, under mu. */
static void encode(struct mp_encoder *e, struct job *j)
{
	j->rc = mp_store_encode(j->recs, j->n, &j->data, &j->len);
	pthread_mutex_lock(&e->mu);
	if (e->nspare < sizeof(e->spare) / sizeof(e->spare[0]))
		e->spare[e->nspare++] = j->recs;
	else
		free(j->recs);
	j->recs = NULL;
	if (e->have_thread) {
		e->todo = j->next;
		e->waiting--;
		pthread_cond_broadcast(&e->done);
	}
	pthread_mutex_unlock(&e->mu);
}

/* The thread runs at the lowest priority: it takes a core the program's
   threads and the replay leave idle, or the replay's own while it waits
   for a chunk to be encoded (mp_encoder_put). At the default priority a
   program with one busy thread shared its two cores with both of ours:
   churn with 1 thread took 0.77 s against 0.69 s encoding on the replay's
   thread, 0.71 s now; with 2 threads 0.79 s either way (0.85 s before the
   thread). */
static void *encoder_main(void *arg)
{
	struct mp_encoder *e = arg;
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 19); /* Linux: this thread only */
	pthread_mutex_lock(&e->mu);
	for (;;) {
		while (!e->todo && !e->stop)
			pthread_cond_wait(&e->work, &e->mu);
		if (e->stop)
			break;
		struct job *j = e->todo;
		pthread_mutex_unlock(&e->mu);
		encode(e, j);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

struct mp_encoder *mp_encoder_new(void)
{
	struct mp_encoder *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->work, NULL);
	pthread_cond_init(&e->done, NULL);
	/* The thread must not take the collector's signals. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e->have_thread = pthread_create(&e->thread, NULL, encoder_main, e) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

void mp_encoder_free(struct mp_encoder *e)
{
	if (!e)
		return;
	if (e->have_thread) {
		pthread_mutex_lock(&e->mu);
		e->stop = 1;
		pthread_cond_signal(&e->work);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	for (struct job *j = e->head, *next; j; j = next) {
		next = j->next;
		free(j->recs);
		free(j->data);
		free(j);
	}
	for (size_t i = 0; i < e->nspare; i++)
		free(e->spare[i]);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->work);
	pthread_cond_destroy(&e->done);
	free(e);
}

int mp_encoder_put(struct mp_encoder *e, int64_t process_id, struct mp_alloc_rec **recs, size_t n)
{
	pthread_mutex_lock(&e->mu);
	while (e->have_thread && e->waiting >= MP_ENCODER_QUEUE)
		pthread_cond_wait(&e->done, &e->mu);
	struct mp_alloc_rec *fresh = e->nspare ? e->spare[--e->nspare] : NULL;
	pthread_mutex_unlock(&e->mu);
	struct job *j = calloc(1, sizeof(*j));
	if (!fresh)
		fresh = malloc(MP_STORE_CHUNK_RECORDS * sizeof(*fresh));
	if (!j || !fresh) {
		free(j);
		free(fresh);
		return -1;
	}
	j->process_id = process_id;
	j->recs = *recs;
	j->n = n;
	*recs = fresh;
	pthread_mutex_lock(&e->mu);
	if (e->tail)
		e->tail->next = j;
	else
		e->head = j;
	e->tail = j;
	if (e->have_thread) {
		if (!e->todo)
			e->todo = j;
		e->waiting++;
		pthread_cond_signal(&e->work);
	}
	pthread_mutex_unlock(&e->mu);
	if (!e->have_thread)
		encode(e, j);
	return 0;
}

int mp_encoder_get(struct mp_encoder *e, int wait, struct mp_encoded *out)
{
	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct job *j = e->head;
		if (j && !j->recs) {
			if (!(e->head = j->next))
				e->tail = NULL;
			pthread_mutex_unlock(&e->mu);
			int rc = j->rc;
			*out = (struct mp_encoded){j->process_id, j->n, j->data, j->len};
			free(j);
			return rc ? -1 : 1;
		}
		if (!j || !wait) {
			pthread_mutex_unlock(&e->mu);
			return 0;
		}
		pthread_cond_wait(&e->done, &e->mu);
	}
}
