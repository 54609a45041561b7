/*
 * reprovm_spawn: process creation without fork, for the task runner.
 *
 * Node's child_process.spawn forks the whole Node process for every command (the kernel
 * copies the page tables of a large, multi-threaded process) and blocks the event loop until
 * the child has exec'd. For thousands of short commands that dominates a build. glibc's
 * posix_spawn uses clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's memory until
 * it execs, so nothing is copied; and it runs here on a spawner thread, so the event loop
 * never waits for an exec either.
 *
 * spawn(file, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, onStart, onExit)
 *   Queues the start of `file` (an absolute path; no PATH search) in a new session and
 *   process group (its pid; what child_process's `detached` does), with an empty signal mask
 *   and every signal at its default disposition (Node ignores SIGPIPE; a command must not
 *   inherit that), in `cwd`, with fds 0/1/2 duplicated from the given descriptors
 *   (stdinFd < 0: /dev/null; stdoutFd/stderrFd -2: a new pipe, whose read end is returned in
 *   [stdoutReadFd, stderrReadFd], else -1). The descriptors must stay open until onStart.
 *   onStart(pid, errorCode): the pid, or -1 and an errno name ("ENOENT") when it could not
 *   start (then onExit is never called). onExit(exitCode, signalNumber): exitCode is -1 when
 *   the command was killed by a signal, signalNumber 0 when it exited.
 *
 * One spawner thread per Node environment (started on first use) does everything that
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
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

/* On first use: the epoll set, the spawner thread, the thread-safe function. 0 or an errno. */
static int start_thread(napi_env env, addon_state *st) {
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
  /* The spawner thread takes no signals: they belong to Node's main thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&st->thread, NULL, rs_thread_main, st);
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
      rs_free_vec(v);
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

/* spawn(file, argv, envp, cwd, stdinFd, stdoutFd, stderrFd, onStart, onExit) -> [stdoutReadFd, stderrReadFd] */
#define PIPE_FD (-2)
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
  int err = start_thread(env, st);
  if (err) return throw_errno(env, err, "reprovm_spawn: cannot start its spawner thread:");
  child_rec *rec = calloc(1, sizeof *rec);
  if (!rec) return throw_errno(env, ENOMEM, "reprovm_spawn:");
  for (int i = 0; i < 3; i++) napi_get_value_int32(env, a[4 + i], &rec->fds[i]);
  /* stdoutFd/stderrFd PIPE_FD: a pipe; the command gets the write end, the caller the read end. */
  int read_ends[2] = {-1, -1};
  rec->close_after[0] = rec->close_after[1] = -1;
  for (int i = 0; i < 2; i++) {
    if (rec->fds[1 + i] != PIPE_FD) continue;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
      err = errno;
      for (int k = 0; k < 2; k++) {
        if (read_ends[k] >= 0) close(read_ends[k]);
        if (rec->close_after[k] >= 0) close(rec->close_after[k]);
      }
      free(rec);
      return throw_errno(env, err, "reprovm_spawn: pipe:");
    }
    read_ends[i] = p[0];
    rec->close_after[i] = p[1];
    rec->fds[1 + i] = p[1];
  }
  rec->file = to_str(env, a[0]);
  rec->cwd = to_str(env, a[3]);
  rec->argv = to_vec(env, a[1]);
  rec->envp = to_vec(env, a[2]);
  if (!rec->file || !rec->cwd || !rec->argv || !rec->envp) {
    for (int k = 0; k < 2; k++) {
      if (read_ends[k] >= 0) close(read_ends[k]);
      if (rec->close_after[k] >= 0) close(rec->close_after[k]);
    }
    rs_free_request(rec);
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
  napi_value result, v;
  napi_create_array_with_length(env, 2, &result);
  for (uint32_t k = 0; k < 2; k++) {
    napi_create_int32(env, read_ends[k], &v);
    napi_set_element(env, result, k, v);
  }
  return result;
}

static napi_value js_available(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = rs_pidfd_open(getpid());
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
