/*
 * reprovm_spawn: process creation without fork, for the task runner.
 *
 * Node's child_process.spawn forks the whole Node process for every command (the kernel
 * copies the page tables of a large, multi-threaded process) and blocks the event loop until
 * the child has exec'd. For thousands of short commands that dominates a build. glibc's
 * posix_spawn uses clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's memory until
 * it execs, so nothing is copied; and it runs here on a helper thread, so the event loop
 * never waits for an exec either.
 *
 * spawn(file, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, onStart, onExit)
 *   Queues the start of `file` (an absolute path; no PATH search) in a new session and
 *   process group (its pid; what child_process's `detached` does), with an empty signal mask
 *   and every signal at its default disposition (Node ignores SIGPIPE; a command must not
 *   inherit that), in `cwd`, with fds 0/1/2 duplicated from the given descriptors
 *   (stdinFd < 0: /dev/null). The descriptors must stay open until onStart has been called.
 *   onStart(pid, errorCode): the pid, or -1 and an errno name ("ENOENT") when it could not
 *   start (then onExit is never called). onExit(exitCode, signalNumber): exitCode is -1 when
 *   the command was killed by a signal, signalNumber 0 when it exited.
 *
 * One helper thread per Node environment (started on first use) does everything that
 * blocks: it takes start requests from a queue (woken through an eventfd), posix_spawns
 * them, opens a pidfd for each child (Linux >= 5.3) and sleeps in epoll_wait on all of
 * them; when a pidfd turns readable it reaps exactly that pid (never waitpid(-1), which would
 * steal libuv's children). Results go to the main thread through one thread-safe function,
 * whose callbacks run through napi_make_callback, so promise jobs run right after them. The
 * thread-safe function is referenced only while children are outstanding: an idle addon
 * never keeps the process alive. When the environment goes away, children still running
 * are killed (their whole process group) and the thread is joined.
 *
 * available() tells whether pidfd_open works here; the JS side falls back to child_process
 * when it does not, or when this addon is not built.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif


typedef struct child_rec {
  struct child_rec *next_req;     /* start queue (main thread -> helper) */
  struct child_rec *prev, *next;  /* children running (helper thread only) */
  char *file, *cwd;
  char **argv, **envp;
  int32_t fds[3];
  pid_t pid;
  int pidfd;
  napi_ref on_start, on_exit;
} child_rec;

typedef struct {
  int epfd;
  int evfd; /* wakes the helper: new start requests or a stop request */
  pthread_t thread;
  int started;
  pthread_mutex_t lock; /* guards queue_head/queue_tail/stopping */
  child_rec *queue_head, *queue_tail;
  int stopping;
  child_rec *running; /* helper thread only */
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

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[600];
  const char *code = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s %s", what, code ? code : strerror(err));
  napi_value m, c, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_throw(env, e);
  return NULL;
}

static void free_vec(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void free_request(child_rec *rec) {
  free(rec->file);
  free(rec->cwd);
  free_vec(rec->argv);
  free_vec(rec->envp);
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

/* Helper thread: start one queued request and watch it. */
static void start_one(addon_state *st, child_rec *rec) {
  int err = do_spawn(rec);
  free_request(rec);
  if (!err) {
    rec->pidfd = pidfd_open_(rec->pid);
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

static void *helper_main(void *arg) {
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

/* Main thread: a start or an exit, to the child's JS callbacks. */
static void call_js(napi_env env, napi_value unused, void *context, void *data) {
  addon_state *st = context;
  msg_t *m = data;
  child_rec *rec = m->rec;
  if (env == NULL) { /* the environment is going away */
    free(m);
    return;
  }
  int done = m->kind == MSG_EXITED || m->a < 0;
  napi_value cb, argv[2], recv;
  if (m->kind == MSG_STARTED) {
    napi_get_reference_value(env, rec->on_start, &cb);
    napi_create_int32(env, m->a, &argv[0]);
    if (m->a < 0) {
      const char *code = strerrorname_np(m->err);
      napi_create_string_utf8(env, code ? code : "EUNKNOWN", NAPI_AUTO_LENGTH, &argv[1]);
    } else {
      napi_get_undefined(env, &argv[1]);
    }
  } else {
    int code = -1, signo = 0;
    if (m->a >= 0) {
      if (WIFEXITED(m->a)) code = WEXITSTATUS(m->a);
      else if (WIFSIGNALED(m->a)) signo = WTERMSIG(m->a);
    }
    napi_get_reference_value(env, rec->on_exit, &cb);
    napi_create_int32(env, code, &argv[0]);
    napi_create_int32(env, signo, &argv[1]);
  }
  free(m);
  if (done) {
    napi_delete_reference(env, rec->on_start);
    napi_delete_reference(env, rec->on_exit);
    free(rec);
    if (--st->outstanding == 0 && st->tsfn_refd) {
      napi_unref_threadsafe_function(env, st->tsfn);
      st->tsfn_refd = 0;
    }
  }
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  /* make_callback (not call_function): promise jobs and nextTicks run right after it. */
  if (napi_make_callback(env, st->async_ctx, recv, cb, 2, argv, NULL) == napi_pending_exception) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
}

static void cleanup(void *arg) {
  addon_state *st = arg;
  if (st->started) {
    pthread_mutex_lock(&st->lock);
    st->stopping = 1;
    pthread_mutex_unlock(&st->lock);
    uint64_t one = 1;
    ssize_t w = write(st->evfd, &one, sizeof one);
    (void)w;
    pthread_join(st->thread, NULL);
    napi_release_threadsafe_function(st->tsfn, napi_tsfn_abort);
  }
  if (st->epfd >= 0) close(st->epfd);
  if (st->evfd >= 0) close(st->evfd);
  pthread_mutex_destroy(&st->lock);
  free(st);
}

static addon_state *get_state(napi_env env) {
  void *p = NULL;
  napi_get_instance_data(env, &p);
  return p;
}

/* On first use: the epoll set, the helper thread, the thread-safe function. 0 or an errno. */
static int start_helper(napi_env env, addon_state *st) {
  if (st->started) return 0;
  napi_value name, resource;
  napi_create_string_utf8(env, "reprovm_spawn", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  if (!st->async_ctx && napi_async_init(env, resource, name, &st->async_ctx) != napi_ok) return ENOMEM;
  if (!st->tsfn) {
    if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, st, call_js, &st->tsfn) != napi_ok) return ENOMEM;
    napi_unref_threadsafe_function(env, st->tsfn);
  }
  if (st->epfd < 0) st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) return errno;
  if (st->evfd < 0) {
    st->evfd = eventfd(0, EFD_CLOEXEC);
    if (st->evfd < 0) return errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->evfd, &ev) < 0) return errno;
  }
  /* The helper thread takes no signals: they belong to Node's main thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&st->thread, NULL, helper_main, st);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) return err;
  st->started = 1;
  return 0;
}

/* Copies a JS array of strings into a NULL-terminated char* vector (freed with free_vec). */
static char **to_vec(napi_env env, napi_value arr) {
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok) return NULL;
  char **v = calloc(len + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < len; i++) {
    napi_value s;
    size_t n = 0;
    napi_get_element(env, arr, i, &s);
    if (napi_get_value_string_utf8(env, s, NULL, 0, &n) != napi_ok) n = 0;
    v[i] = calloc(n + 1, 1);
    if (!v[i]) {
      free_vec(v);
      return NULL;
    }
    napi_get_value_string_utf8(env, s, v[i], n + 1, &n);
  }
  return v;
}

static char *to_str(napi_env env, napi_value s) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, s, NULL, 0, &n) != napi_ok) return NULL;
  char *out = calloc(n + 1, 1);
  if (out) napi_get_value_string_utf8(env, s, out, n + 1, &n);
  return out;
}

/* spawn(file, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, onStart, onExit) */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  addon_state *st = get_state(env);
  size_t argc = 9;
  napi_value a[9];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  napi_valuetype t1 = napi_undefined, t2 = napi_undefined;
  if (argc == 9) {
    napi_typeof(env, a[7], &t1);
    napi_typeof(env, a[8], &t2);
  }
  if (t1 != napi_function || t2 != napi_function) {
    napi_throw_type_error(env, NULL, "spawn(file, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, onStart, onExit)");
    return NULL;
  }
  int err = start_helper(env, st);
  if (err) return throw_errno(env, err, "reprovm_spawn: cannot start its helper thread:");
  child_rec *rec = calloc(1, sizeof *rec);
  if (!rec) return throw_errno(env, ENOMEM, "reprovm_spawn:");
  for (int i = 0; i < 3; i++) napi_get_value_int32(env, a[4 + i], &rec->fds[i]);
  rec->file = to_str(env, a[0]);
  rec->cwd = to_str(env, a[3]);
  rec->argv = to_vec(env, a[1]);
  rec->envp = to_vec(env, a[2]);
  if (!rec->file || !rec->cwd || !rec->argv || !rec->envp) {
    free_request(rec);
    free(rec);
    return throw_errno(env, ENOMEM, "reprovm_spawn:");
  }
  napi_create_reference(env, a[7], 1, &rec->on_start);
  napi_create_reference(env, a[8], 1, &rec->on_exit);
  if (st->outstanding++ == 0 && !st->tsfn_refd) {
    napi_ref_threadsafe_function(env, st->tsfn);
    st->tsfn_refd = 1;
  }
  pthread_mutex_lock(&st->lock);
  if (st->queue_tail) st->queue_tail->next_req = rec;
  else st->queue_head = rec;
  st->queue_tail = rec;
  pthread_mutex_unlock(&st->lock);
  uint64_t one = 1;
  ssize_t w = write(st->evfd, &one, sizeof one);
  (void)w;
  return NULL;
}

static napi_value js_available(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = pidfd_open_(getpid());
  napi_value r;
  napi_get_boolean(env, fd >= 0, &r);
  if (fd >= 0) close(fd);
  return r;
}

static void finalize_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  (void)hint;
  /* Freed by the cleanup hook, which runs first and joins the thread. */
}

NAPI_MODULE_INIT() {
  addon_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->epfd = -1;
  st->evfd = -1;
  pthread_mutex_init(&st->lock, NULL);
  napi_set_instance_data(env, st, finalize_state, NULL);
  napi_add_env_cleanup_hook(env, cleanup, st);
  napi_property_descriptor props[] = {
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_default, NULL},
      {"available", NULL, js_available, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}
