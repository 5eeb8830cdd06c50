/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sonde's one event loop: epoll over file descriptors plus one-shot timers kept on a single
 * timerfd. Everything the agent does (ring buffers, exports, signals, the metrics listener)
 * runs from here, on one thread, without locks.
 */
#ifndef SONDE_LOOP_H
#define SONDE_LOOP_H

#include <stdint.h>

struct loop;

/* Called with the epoll events that fired (EPOLLIN, EPOLLOUT, EPOLLERR, ...). */
typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *ctx);
/* Called once when a timer expires; re-arm from inside if it should repeat. */
typedef void (*loop_timer_cb)(struct loop *l, void *ctx);

struct loop *loop__new(void);
void loop__free(struct loop *l);

/* Watch fd for events (EPOLLIN/EPOLLOUT); returns 0 or -errno. */
int loop__add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *ctx);
int loop__mod_fd(struct loop *l, int fd, uint32_t events);
int loop__del_fd(struct loop *l, int fd);

/*
 * Arm a one-shot timer after delay_ms; returns a positive timer id or -errno. Arming the same
 * (cb, ctx) again replaces the pending one.
 */
int loop__arm_timer(struct loop *l, uint64_t delay_ms, loop_timer_cb cb, void *ctx);
void loop__cancel_timer(struct loop *l, loop_timer_cb cb, void *ctx);

/* Run until loop__stop(); returns 0 or -errno on a fatal epoll error. */
int loop__run(struct loop *l);
void loop__stop(struct loop *l);
/* Wait at most timeout_ms for events, dispatch them and due timers once; returns 0 or -errno. */
int loop__run_once(struct loop *l, int timeout_ms);

/* Monotonic milliseconds, the clock timers use. */
uint64_t loop__now_ms(void);

#endif /* SONDE_LOOP_H */
