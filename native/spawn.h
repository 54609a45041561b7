/*
 * Shared between the two halves of the spawn addon: spawn.c (the N-API side, main thread) and
 * spawn-thread.c (the spawner thread that starts, watches and reaps the children). See spawn.c.
 */
#ifndef REPROVM_SPAWN_H
#define REPROVM_SPAWN_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

typedef struct child_rec {
  struct child_rec *next_req;     /* start queue (main thread -> spawner thread) */
  struct child_rec *prev, *next;  /* children running (spawner thread only) */
  char *file, *cwd;
  char **argv, **envp;
  int32_t fds[3];
  int close_after[2]; /* this process's write ends of stdout/stderr pipes, or -1 */
  pid_t pid;
  int pidfd;
  napi_ref on_start, on_exit;
} child_rec;

typedef struct {
  int epfd;
  int evfd; /* wakes the spawner thread: new start requests or a stop request */
  pthread_t thread;
  int started;
  pthread_mutex_t lock; /* guards queue_head/queue_tail/stopping */
  child_rec *queue_head, *queue_tail;
  int stopping;
  child_rec *running; /* spawner thread only */
  napi_threadsafe_function tsfn;
  napi_async_context async_ctx;
  int tsfn_refd;
  int64_t outstanding; /* requests not yet finished (exit or failed start); main thread only */
} addon_state;

enum { MSG_STARTED, MSG_EXITED };

typedef struct {
  child_rec *rec;
  int kind;
  int a; /* STARTED: pid or -1; EXITED: wait status or -1 */
  int err; /* STARTED: errno when it failed */
} msg_t;
/* pidfd_open(2), through syscall(): older glibc has no wrapper. */
int rs_pidfd_open(pid_t pid);
/* Frees the strings of a start request (after it was started, or when it is dropped). */
void rs_free_request(child_rec *rec);
void rs_free_vec(char **v);
/* The spawner thread's main loop (pthread start routine); arg is the addon_state. */
void *rs_thread_main(void *arg);

#endif
