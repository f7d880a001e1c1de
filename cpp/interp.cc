// envoy-pyext: Apache-2.0
//
// Per-worker sub-interpreters: see interp.h and docs/design.md "Interpreters".
#include "interp.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "log.h"

#define PYEXT_EXPORT extern "C" __attribute__((visibility("default")))

// The pyext_* functions of THIS copy of the core (Cython, cdef public).
extern "C" PyObject* PyInit__native(void);

// The table the host reads from a copy it loaded (dlsym): every copy exports its own.
PYEXT_EXPORT const pyext_core* envoy_pyext_core_table(void) {
  static const pyext_core table = {
      PyInit__native,           pyext_bootstrap,         pyext_on_config_new,
      pyext_on_config_new_per_worker,
      pyext_on_config_destroy,  pyext_on_request_headers, pyext_on_request_body,
      pyext_on_request_trailers, pyext_on_response_headers, pyext_on_response_body,
      pyext_on_response_trailers, pyext_on_stream_complete, pyext_on_destroy,
      pyext_on_scheduled,       pyext_on_local_reply,    pyext_on_callout_headers,
      pyext_on_callout_data,    pyext_on_callout_trailers, pyext_on_callout_end,
      pyext_shared,             pyext_shared_use,
  };
  return &table;
}

// A per_worker config: the raw config, and each interpreter's config made from it.
struct pyext_per_worker {
  std::string name;
  std::string config;
  // Envoy's config object: its metrics are defined by the check load (main thread, in
  // config_new) and used, by id, from every interpreter; `ids` is what that load defined.
  envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr;
  bool ids_defined = false;
  std::string ids;
  std::mutex mu;
  std::vector<pyext_config*> by_interp;  // index: pyext_interp::index; NULL until made
  // The main interpreter's runtime refresher commits to it (runtime.pxi); NULL: none.
  void* runtime_sched = nullptr;
};

namespace pyext {
namespace {

#if PY_VERSION_HEX >= 0x030C0000

std::mutex g_mu;                       // the interpreter pool
std::vector<pyext_interp*> g_interps;  // every interpreter made (never ended: see design.md)
std::vector<bool> g_claimed;           // g_interps[i] serves a worker

// This thread's own interpreter (a worker's), its thread state there, and its buried streams.
thread_local pyext_interp* t_interp = nullptr;
thread_local PyThreadState* t_interp_ts = nullptr;
thread_local std::vector<pyext_stream*> t_buried;

void log_error(const std::string& message) { pyext::log_error(message.c_str()); }

std::string python_error() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  std::string text = "unknown error";
  PyObject* s = value != nullptr ? PyObject_Str(value) : nullptr;
  const char* utf8 = s != nullptr ? PyUnicode_AsUTF8(s) : nullptr;
  if (utf8 != nullptr) text = utf8;
  Py_XDECREF(s);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return text;
}

// This libpyfilter.so's file, opened when Envoy loaded it: a copy made later is of the same
// bytes even if a deployment replaced the file since (a rename keeps this inode). -1 in the
// copies themselves (loaded from a memfd) and when the file cannot be opened.
int open_own_file() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&envoy_pyext_core_table), &info) == 0 ||
      info.dli_fname == nullptr || std::strncmp(info.dli_fname, "/proc/self/fd/", 14) == 0) {
    return -1;
  }
  return open(info.dli_fname, O_RDONLY | O_CLOEXEC);
}
const int g_own_fd = open_own_file();

// A private copy of this libpyfilter.so, loaded: its own C globals and static types.
const pyext_core* load_core_copy(std::string* error) {
  if (g_own_fd < 0) {
    *error = "cannot read libpyfilter.so's file (opened when Envoy loaded it)";
    return nullptr;
  }
  int fd = memfd_create("envoy-pyext-core", MFD_CLOEXEC);
  bool copied = fd >= 0;
  char buf[1 << 16];
  off_t offset = 0;
  ssize_t n;
  // pread: two workers may copy at once, and the file offset is shared.
  while (copied && (n = pread(g_own_fd, buf, sizeof(buf), offset)) > 0) {
    copied = write(fd, buf, n) == n;
    offset += n;
  }
  if (!copied || offset == 0) {
    if (fd >= 0) close(fd);
    *error = "cannot copy libpyfilter.so into memory (memfd)";
    return nullptr;
  }
  // The memfd stays open, like the library (never closed): dlopen knows a library by its path
  // too, and a reused descriptor number would name an earlier copy.
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    close(fd);
    const char* e = dlerror();
    *error = std::string("dlopen of the core's copy failed: ") + (e ? e : "?");
    return nullptr;
  }
  using TableFn = const pyext_core* (*)(void);
  auto fn = reinterpret_cast<TableFn>(dlsym(handle, "envoy_pyext_core_table"));
  if (fn == nullptr) {
    *error = "the core's copy has no envoy_pyext_core_table";
    return nullptr;
  }
  const pyext_core* core = fn();
  core->shared_use(pyext_shared());  // one envoy_pyext.shared store for the whole process
  return core;
}

// Imports envoy_pyext in the current (new) interpreter with `core` as envoy_pyext._native.
bool import_core(const pyext_core* core) {
  PyObject* def_obj = core->init();
  if (def_obj == nullptr) return false;
  if (!PyObject_TypeCheck(def_obj, &PyModuleDef_Type)) {
    PyErr_SetString(PyExc_ImportError, "the core is not a multi-phase module");
    return false;
  }
  // This copy serves this interpreter only: declare it per-interpreter-GIL safe (Cython sets
  // that slot only with its module state, which would slow the shared path; interp.h).
  auto* def = reinterpret_cast<PyModuleDef*>(def_obj);
  size_t n = 0;
  while (def->m_slots != nullptr && def->m_slots[n].slot != 0) n++;
  auto* slots = new PyModuleDef_Slot[n + 2];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (def->m_slots[i].slot != Py_mod_multiple_interpreters) slots[k++] = def->m_slots[i];
  }
  slots[k++] = {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED};
  slots[k] = {0, nullptr};
  auto* own = new PyModuleDef(*def);  // leaked with the interpreter
  own->m_base = PyModuleDef_HEAD_INIT;
  own->m_slots = slots;
  PyModuleDef_Init(own);

  bool ok = false;
  PyObject* machinery = PyImport_ImportModule("importlib.machinery");
  PyObject* spec = machinery ? PyObject_CallMethod(machinery, "ModuleSpec", "ss",
                                                   "envoy_pyext._native", "envoy_pyext-core")
                             : nullptr;
  PyObject* mod = spec ? PyModule_FromDefAndSpec(own, spec) : nullptr;
  PyObject* modules = PyImport_GetModuleDict();
  if (mod != nullptr && PyDict_SetItemString(modules, "envoy_pyext._native", mod) == 0 &&
      PyModule_ExecDef(mod, own) == 0) {
    PyObject* pkg = PyImport_ImportModule("envoy_pyext");
    ok = pkg != nullptr && core->bootstrap() == 0;
    if (pkg != nullptr && !ok && !PyErr_Occurred()) {
      PyErr_SetString(PyExc_RuntimeError, "the core's start-up failed (see the log)");
    }
    Py_XDECREF(pkg);
  }
  Py_XDECREF(mod);
  Py_XDECREF(spec);
  Py_XDECREF(machinery);
  return ok;
}

// Makes an interpreter. The calling thread holds the main GIL (its main thread state current)
// and still does on return; *home is the new interpreter's thread state for this thread.
pyext_interp* make_interp(PyThreadState** home, std::string* error) {
  const pyext_core* core = load_core_copy(error);
  if (core == nullptr) return nullptr;
  PyThreadState* main_ts = PyThreadState_Get();
  PyInterpreterConfig cfg = {};
  cfg.use_main_obmalloc = 0;
  cfg.allow_fork = 0;
  cfg.allow_exec = 0;
  cfg.allow_threads = 1;
  cfg.allow_daemon_threads = 1;  // the core's event-loop thread; interpreters are never ended
  cfg.check_multi_interp_extensions = 1;  // modules without sub-interpreter support: refused
  cfg.gil = PyInterpreterConfig_OWN_GIL;
  PyThreadState* ts = nullptr;
  PyStatus status = Py_NewInterpreterFromConfig(&ts, &cfg);
  if (PyStatus_Exception(status) || ts == nullptr) {
    *error = std::string("Py_NewInterpreterFromConfig failed: ") +
             (status.err_msg ? status.err_msg : "?");
    if (PyThreadState_Get() != main_ts) PyEval_RestoreThread(main_ts);
    return nullptr;
  }
  // Now in the new interpreter, its GIL held; the main GIL is released.
  bool ok = import_core(core);
  if (!ok) *error = "starting envoy_pyext in it failed: " + python_error();
  PyEval_SaveThread();
  PyEval_RestoreThread(main_ts);
  if (!ok) return nullptr;  // the interpreter is left as it is (never used)
  auto* it = new pyext_interp{0, ts->interp, core};
  *home = ts;
  std::lock_guard<std::mutex> lock(g_mu);
  it->index = static_cast<int>(g_interps.size());
  g_interps.push_back(it);
  g_claimed.push_back(false);
  return it;
}

// This worker's interpreter: an unclaimed one (the check's), else a new one.
bool ensure_worker_interp() {
  if (t_interp != nullptr) return true;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (size_t i = 0; i < g_interps.size(); i++) {
      if (!g_claimed[i]) {
        g_claimed[i] = true;
        t_interp = g_interps[i];
        t_interp_ts = PyThreadState_New(t_interp->state);
        return true;
      }
    }
  }
  std::string error;
  PyThreadState* home = nullptr;
  pyext_interp* it;
  {
    GilGuard main;
    it = make_interp(&home, &error);
  }
  if (it == nullptr) {
    log_error("envoy-pyext: cannot make this worker's interpreter (interpreter: per_worker): " +
              error);
    return false;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_claimed[it->index] = true;
  t_interp = it;
  t_interp_ts = home;
  return true;
}

// The config of `outer` in `it`, made there (import, parse_config) at its first use. The
// calling thread holds `it`'s GIL.
pyext_config* config_in(pyext_config* outer, pyext_interp* it) {
  pyext_per_worker* pw = outer->per_worker_state;
  {
    std::lock_guard<std::mutex> lock(pw->mu);
    if (static_cast<size_t>(it->index) < pw->by_interp.size() && pw->by_interp[it->index]) {
      return pw->by_interp[it->index];
    }
  }
  // The first load (the check, on the main thread in Envoy's config_new) defines the metrics;
  // the others get their ids. Cython keeps config-level calls for the main interpreter.
  char* out = nullptr;
  size_t out_length = 0;
  const bool check = !pw->ids_defined;
  pyext_config* c = it->core->config_new_per_worker(
      pw->envoy_ptr, pw->name.data(), pw->name.size(), pw->config.data(), pw->config.size(),
      check ? nullptr : pw->ids.data(), check ? 0 : pw->ids.size(), check ? &out : nullptr,
      check ? &out_length : nullptr);
  if (c == nullptr) return nullptr;  // Cython logged why
  if (check) {
    pw->ids.assign(out, out_length);
    pw->ids_defined = true;
    std::free(out);
  }
  c->interp = it;
  std::lock_guard<std::mutex> lock(pw->mu);
  if (pw->by_interp.size() <= static_cast<size_t>(it->index)) pw->by_interp.resize(it->index + 1);
  pw->by_interp[it->index] = c;
  return c;
}

void flush_buried() {
  if (t_buried.empty()) return;
  std::vector<pyext_stream*> batch;
  batch.swap(t_buried);
  // Not core_of(s): Envoy may have destroyed the stream's config since (it outlives only
  // the streams Envoy holds); every stream buried on this thread is of this interpreter.
  for (pyext_stream* s : batch) {
    t_interp->core->destroy(s);
    std::free(s);
  }
}

void answer_500(pyext_stream* s) {
  if (s->envoy_ptr == nullptr) return;
  static const char kBody[] = "Internal Server Error\n";
  static const char kDetails[] = "envoy_pyext_interpreter_error";
  envoy_dynamic_module_type_module_http_header hdr{"content-type", 12, "text/plain", 10};
  envoy_dynamic_module_callback_http_send_response(
      s->envoy_ptr, 500, &hdr, 1, {kBody, sizeof(kBody) - 1}, {kDetails, sizeof(kDetails) - 1});
}

#endif  // PY_VERSION_HEX >= 0x030C0000

}  // namespace

#if PY_VERSION_HEX >= 0x030C0000

bool per_worker_config_init(pyext_config* outer,
                            envoy_dynamic_module_type_http_filter_config_envoy_ptr envoy_ptr,
                            const char* name, size_t name_length, const char* config,
                            size_t config_length) {
  auto* pw = new pyext_per_worker();
  pw->envoy_ptr = envoy_ptr;
  pw->name.assign(name, name_length);
  pw->config.assign(config, config_length);
  outer->per_worker_state = pw;
  // The check: load it now in an interpreter (a new one unless one is still unclaimed), so that
  // what cannot load per worker (an import, parse_config, a module refusing sub-interpreters)
  // rejects the configuration instead of failing requests. That interpreter then serves the
  // first worker that asks; its config is that worker's.
  pyext_interp* it = nullptr;
  PyThreadState* ts = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (size_t i = 0; i < g_interps.size() && it == nullptr; i++) {
      if (!g_claimed[i]) it = g_interps[i];
    }
  }
  bool made = false;
  if (it == nullptr) {
    std::string error;
    it = make_interp(&ts, &error);
    if (it == nullptr) {
      log_error("envoy-pyext: " + pw->name + ": cannot make an interpreter for " +
                "interpreter: per_worker: " + error);
      outer->per_worker_state = nullptr;
      delete pw;
      return false;
    }
    made = true;
  }
  pyext_config* c = nullptr;
  if (made) {
    InterpreterGuard guard(ts);
    c = config_in(outer, it);
  } else {
    with_temporary_state(it->state, [&] { c = config_in(outer, it); });
  }
  if (c == nullptr) {
    outer->per_worker_state = nullptr;
    delete pw;  // no interpreter kept a config of it
    return false;
  }
  outer->events = c->events;  // the same class everywhere: the shim routes by these bits
  pw->runtime_sched = pyext_runtime_scheduler_new(envoy_ptr);  // main GIL held
  return true;
}

void per_worker_config_destroy(pyext_config* outer) {
  pyext_per_worker* pw = outer->per_worker_state;
  if (pw != nullptr) {
    if (pw->runtime_sched != nullptr) {
      GilGuard gil;
      pyext_runtime_scheduler_delete(pw->runtime_sched);
    }
    std::vector<pyext_config*> configs;
    {
      std::lock_guard<std::mutex> lock(pw->mu);
      configs.swap(pw->by_interp);
    }
    for (pyext_config* c : configs) {
      if (c == nullptr) continue;
      pyext_interp* it = c->interp;
      // Freed in its own interpreter: with this thread's state there, or a temporary one.
      if (it == t_interp) {
        InterpreterGuard guard(t_interp_ts);
        it->core->config_destroy(c);
      } else {
        with_temporary_state(it->state, [&] { it->core->config_destroy(c); });
      }
    }
    delete pw;
  }
  std::free(outer);
}

bool enter_worker_interp(pyext_stream* s, InterpreterGuard* guard) {
  if (!ensure_worker_interp()) {
    answer_500(s);
    return false;
  }
  guard->enter(t_interp_ts);
  flush_buried();
  if (s->config->per_worker) {  // first entry of this stream: this interpreter's config
    pyext_config* c = config_in(s->config, t_interp);
    if (c == nullptr) {
      log_error("envoy-pyext: this worker's interpreter cannot load the per_worker config "
                "(the error above); answering 500");
      answer_500(s);
      return false;
    }
    s->config = c;
  }
  return true;
}

void bury_in_worker_interp(pyext_stream* s) { t_buried.push_back(s); }

#else  // CPython 3.11: Cython refuses per_worker before the shim sees it.

bool per_worker_config_init(pyext_config*, envoy_dynamic_module_type_http_filter_config_envoy_ptr,
                            const char*, size_t, const char*, size_t) {
  pyext::log_error("envoy-pyext: interpreter: per_worker needs CPython 3.12 or later");
  return false;
}

void per_worker_config_destroy(pyext_config* outer) { std::free(outer); }

bool enter_worker_interp(pyext_stream*, InterpreterGuard*) { return false; }

void bury_in_worker_interp(pyext_stream* s) { std::free(s); }

#endif

}  // namespace pyext
