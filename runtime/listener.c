/*
 * listener.c - listening sockets: the backend keeps accepting (io_uring: one multishot accept
 * SQE; epoll: an accept4 loop on the fd's readiness), connections go to waiting acceptors
 * oldest first, or queue in the listener until one comes.
 *
 * Acceptors are waiters (wait.c) in a FIFO wait queue: a connection is handed to the head in
 * O(1) as an owned result, so an acceptor cancelled after the hand-over still gets its fd
 * (fd 0 included) and nothing leaks. The queue of accepted-but-unclaimed connections is
 * bounded (tr_listener_set_queue_limit): when it is full the accepting is cancelled
 * and re-armed only once an acceptor takes one, so the kernel's listen backlog pushes back on
 * clients instead of the process hoarding fds until EMFILE.
 *
 * An accept error (EMFILE, ENFILE, ENOMEM, ...) ends the multishot accept. It goes to the
 * oldest acceptor; while more acceptors wait, the accept is re-armed at once, so none of them
 * is left parked with nothing armed (each gets the next connection, or the error in turn). With
 * nobody waiting, the error is kept and returned by the next call, which re-arms.
 */
#include "io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { DEFAULT_QUEUE_LIMIT = 4096, FIRST_QUEUE = 64 };

struct tr_listener {
    struct tr_loop *loop;
    tr_listener *next_open; /* the loop's open listeners, freed at shutdown if left open */
    tr_listener **prev_open;
    int fd;
    struct be_listen bl; /* the backend's side: its completions come to accept_done */
    bool armed;          /* the backend is accepting (io_uring: a multishot accept is in) */
    bool pausing;        /* the queue is full: the accept's cancellation is on its way */
    bool closing;        /* tr_listener_close was called: free when the accept is gone */
    int error;           /* the last accept error nobody was waiting for, reported once */
    int *queue;          /* accepted, not yet taken: a ring buffer */
    size_t head;
    size_t len;
    size_t cap;
    size_t limit; /* stop accepting at this many queued */
    struct wait_queue waiters;
};

static void listener_arm(tr_listener *l) {
    l->loop->be->listen_arm(l->loop, &l->bl);
    if (!l->bl.want) {
        l->error = -EBUSY;
        return;
    }
    l->armed = true;
}

static void listener_free(tr_listener *l) {
    l->loop->be->listen_free(l->loop, &l->bl);
    for (size_t i = 0; i < l->len; i++)
        close(l->queue[(l->head + i) % l->cap]);
    if (l->prev_open) {
        *l->prev_open = l->next_open;
        if (l->next_open)
            l->next_open->prev_open = l->prev_open;
    }
    free(l->queue);
    free(l);
}

/* Queue an accepted fd nobody waits for. The queue may pass its limit by the few connections
 * the kernel accepted before the pause took effect: those are kept, never dropped. */
static bool listener_enqueue(tr_listener *l, int fd) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : FIRST_QUEUE;
        int *q = realloc_array(NULL, cap, sizeof *q);
        if (!q)
            return false;
        for (size_t i = 0; i < l->len; i++)
            q[i] = l->queue[(l->head + i) % l->cap];
        free(l->queue);
        l->queue = q;
        l->cap = cap;
        l->head = 0;
    }
    l->queue[(l->head + l->len++) % l->cap] = fd;
    return true;
}

static int listener_dequeue(tr_listener *l) {
    int fd = l->queue[l->head];
    l->head = (l->head + 1) % l->cap;
    l->len--;
    return fd;
}

/* Stop the multishot accept while the queue is full (re-armed by tr_listener_accept). */
static void listener_pause(tr_listener *l) {
    if (!l->armed || l->pausing)
        return;
    l->pausing = true;
    l->loop->be->listen_cancel(l->loop, &l->bl);
}

static bool transient(int res) {
    return res == -EAGAIN || res == -EINTR || res == -ECONNABORTED;
}

static void accept_done(struct tr_loop *loop, struct io_target *t, int res, unsigned flags) {
    tr_listener *l = (tr_listener *)((char *)t - offsetof(tr_listener, bl.done));
    if (!(flags & BE_F_MORE)) {
        l->armed = false;
        l->pausing = false;
        loop->inflight--;
    }
    if (l->closing) {
        if (res >= 0)
            close(res);
        if (!l->armed)
            listener_free(l);
        return;
    }
    if (res >= 0) {
        if (l->waiters.head) {
            waiter_fire(l->waiters.head, res, true); /* hand the connection straight over */
        } else if (!listener_enqueue(l, res)) {
            close(res); /* no memory to keep it: the client sees a reset, the acceptor why */
            l->error = -ENOMEM;
        } else if (l->len >= l->limit) {
            listener_pause(l);
        }
    } else if (!transient(res) && res != -ECANCELED) {
        /* EMFILE, ENFILE, ENOMEM...: the oldest acceptor hears of it; the others stay waiting
         * with the accept re-armed below. Nobody waiting: the next call reports it. */
        if (l->waiters.head)
            waiter_fire(l->waiters.head, res, false);
        else
            l->error = res;
        if (!l->waiters.head)
            return; /* re-armed by the next call, not now: it would spin while EMFILE lasts */
    }
    /* Keep accepting while there is room; after our own pause (-ECANCELED) too, since an
     * acceptor may have emptied the queue while the cancellation was on its way. */
    if (!l->armed && l->len < l->limit)
        listener_arm(l);
}

/* For taskring-ps (debug.c): where a listener's fd is. */
const uint32_t listener_debug_fd_offset = offsetof(struct tr_listener, fd);

TR_EXPORT tr_listener *tr_listener_open(int fd) {
    struct tr_loop *loop = tr_tls_loop;
    if (!loop || !loop->current) {
        errno = EPERM;
        return NULL;
    }
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    tr_listener *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    l->loop = loop;
    l->fd = fd;
    l->bl.fd = fd;
    l->bl.done.complete = accept_done;
    l->bl.ready.complete = NULL;
    l->bl.saved_flags = -1;
    l->limit = DEFAULT_QUEUE_LIMIT;
    l->next_open = loop->listeners;
    if (l->next_open)
        l->next_open->prev_open = &l->next_open;
    l->prev_open = &loop->listeners;
    loop->listeners = l;
    listener_arm(l);
    return l;
}

TR_EXPORT int tr_listener_set_queue_limit(tr_listener *l, size_t limit) {
    if (!l || limit == 0)
        return -EINVAL;
    if (l->loop != tr_tls_loop)
        return -EPERM;
    l->limit = limit;
    if (l->len >= l->limit)
        listener_pause(l);
    return 0;
}

static int accept_there(void *p) {
    return tr_listener_accept(p);
}

TR_EXPORT int tr_listener_accept(tr_listener *l) {
    if (!l)
        return -EINVAL;
    struct tr_loop *loop;
    tr_task *self = calling_task_on(l->loop, &loop);
    if (!self) /* a task of another loop: accept there, and take the fd home */
        return hop_call(l->loop, accept_there, l);
    if (l->closing)
        return -ECANCELED;
    int rc = wait_admit(self);
    if (rc == -ECANCELED)
        return rc;
    if (l->len) {
        int fd = listener_dequeue(l); /* taken even past the deadline: it costs no wait */
        if (!l->armed && !l->closing && l->len < l->limit)
            listener_arm(l); /* room again after a pause */
        return fd;
    }
    if (l->error) {
        int err = l->error;
        l->error = 0;
        return err;
    }
    if (rc < 0)
        return rc; /* -ETIME */
    if (!l->armed) {
        listener_arm(l);
        if (!l->armed) { /* no SQE even after submitting: nothing would ever wake us */
            int err = l->error;
            l->error = 0;
            return err;
        }
    }
    struct waiter w;
    waiter_init(&w, loop, self, WAIT_LISTENER, l);
    wq_push(&l->waiters, &w);
    return wait_block(&w);
}

TR_EXPORT void tr_listener_close(tr_listener *l) {
    if (!l || l->closing)
        return;
    struct tr_loop *loop = l->loop;
    l->closing = true;
    while (l->waiters.head)
        waiter_fire(l->waiters.head, -ECANCELED, false);
    if (!l->armed) {
        listener_free(l);
        return;
    }
    loop->be->listen_cancel(loop, &l->bl);
    if (loop->be->listen_detach)
        loop->be->listen_detach(loop, &l->bl); /* the program may close the fd now */
}

/* At shutdown: listeners the program left open stop re-arming and are freed on their CQE. */
void listeners_stop(struct tr_loop *loop) {
    for (tr_listener *l = loop->listeners; l; l = l->next_open)
        l->closing = true;
}

/* At shutdown, after the backend's drain: listeners the program left open, and their queued fds. */
void listeners_free_all(struct tr_loop *loop) {
    while (loop->listeners)
        listener_free(loop->listeners);
}
