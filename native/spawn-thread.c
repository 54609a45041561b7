/*
 * The spawner thread of the spawn addon (see spawn.c for the whole design): it takes start
 * requests from the queue, posix_spawns them, watches each child through a pidfd in one epoll
 * set, reaps exactly that pid when it exits, and posts both events to the main thread through
 * the thread-safe function. Nothing here touches JS values.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int rs_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

void rs_free_vec(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

void rs_free_request(child_rec *rec) {
  free(rec->file);
  free(rec->cwd);
  rs_free_vec(rec->argv);
  rs_free_vec(rec->envp);
  rec->file = rec->cwd = NULL;
  rec->argv = rec->envp = NULL;
}

static void post(addon_state *st, child_rec *rec, int kind, int a, int err) {
  msg_t *m = malloc(sizeof *m);
  if (!m) abort(); /* a lost exit would hang the run forever; out of memory is fatal anyway */
  m->rec = rec;
  m->kind = kind;
  m->a = a;
  m->err = err;
  if (napi_call_threadsafe_function(st->tsfn, m, napi_tsfn_blocking) != napi_ok) free(m);
}

/*
 * posix_spawn into a new session (so also a new process group whose id is the pid, and no
 * controlling terminal: what child_process's `detached` does), with clean signal state, cwd
 * and fds 0/1/2. 0 or an errno.
 */
static int do_spawn(child_rec *rec) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&fa);
  sigset_t none, all;
  sigemptyset(&none);
  /* Every signal, glibc's internal ones (32, 33) included: sigfillset leaves those out, and
   * posix_spawn would then set them to SIG_IGN, which survives exec. */
  memset(&all, 0xff, sizeof all);
  int err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
  if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
  if (!err) err = posix_spawn_file_actions_addchdir_np(&fa, rec->cwd);
  if (!err) {
    if (rec->fds[0] < 0) err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    else err = posix_spawn_file_actions_adddup2(&fa, rec->fds[0], 0);
  }
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, rec->fds[1], 1);
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, rec->fds[2], 2);
  if (!err) err = posix_spawn(&rec->pid, rec->file, &fa, &attr, rec->argv, rec->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return err;
}

/* Spawner thread: start one queued request and watch it. */
static void start_one(addon_state *st, child_rec *rec) {
  int err = do_spawn(rec);
  rs_free_request(rec);
  /* The child has its copies of the pipes' write ends now (or never will): the reader sees
   * end-of-file exactly when the command and whatever it left running close theirs. */
  for (int i = 0; i < 2; i++) {
    if (rec->close_after[i] >= 0) close(rec->close_after[i]);
    rec->close_after[i] = -1;
  }
  if (!err) {
    rec->pidfd = rs_pidfd_open(rec->pid);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = rec};
    if (rec->pidfd < 0 || epoll_ctl(st->epfd, EPOLL_CTL_ADD, rec->pidfd, &ev) < 0) {
      /* Cannot watch it: do not leave it running unobserved. */
      err = errno;
      if (rec->pidfd >= 0) close(rec->pidfd);
      kill(-rec->pid, SIGKILL);
      while (waitpid(rec->pid, NULL, 0) < 0 && errno == EINTR) {
      }
    }
  }
  if (err) {
    post(st, rec, MSG_STARTED, -1, err);
    return;
  }
  rec->prev = NULL;
  rec->next = st->running;
  if (st->running) st->running->prev = rec;
  st->running = rec;
  post(st, rec, MSG_STARTED, rec->pid, 0);
}

static void reap_one(addon_state *st, child_rec *rec) {
  int status = 0;
  pid_t r;
  do r = waitpid(rec->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  epoll_ctl(st->epfd, EPOLL_CTL_DEL, rec->pidfd, NULL);
  close(rec->pidfd);
  if (rec->prev) rec->prev->next = rec->next;
  else st->running = rec->next;
  if (rec->next) rec->next->prev = rec->prev;
  post(st, rec, MSG_EXITED, r == rec->pid ? status : -1, 0);
}

void *rs_thread_main(void *arg) {
  addon_state *st = arg;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(st->epfd, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    for (int i = 0; i < n; i++) {
      child_rec *rec = evs[i].data.ptr;
      if (rec != NULL) {
        reap_one(st, rec);
        continue;
      }
      uint64_t count;
      ssize_t got = read(st->evfd, &count, sizeof count);
      (void)got;
      pthread_mutex_lock(&st->lock);
      child_rec *q = st->queue_head;
      st->queue_head = st->queue_tail = NULL;
      int stopping = st->stopping;
      pthread_mutex_unlock(&st->lock);
      if (stopping) {
        /* The environment is going away: no command outlives it. */
        for (child_rec *c = st->running; c; c = c->next) kill(-c->pid, SIGKILL);
        return NULL;
      }
      while (q) {
        child_rec *next = q->next_req;
        start_one(st, q);
        q = next;
      }
    }
  }
}
