// envoy-pyext: Apache-2.0
//
// envoy_dynamic_module_on_program_init: start CPython once per Envoy process.
//
// Envoy calls this on its main thread right after dlopen (also under `--mode validate`). We
//  1. check that every Envoy callback we use resolved (PYEXT_ENVOY_CALLBACKS in envoy_abi.h;
//     they are declared weak),
//  2. re-open our libpython RTLD_GLOBAL: Envoy loads modules RTLD_LOCAL, and CPython extension
//     modules (math, _json, numpy, ...) expect libpython's symbols in the global scope,
//  3. register the Cython core as the builtin module `envoy_pyext._native`,
//  4. initialise the interpreter as the installation's python would be (sys.prefix,
//     site-packages, PYTHONPATH), without Python's signal handlers (Envoy owns signals); which
//     python is decided at run time (python_executable), so a virtualenv can be moved,
//  5. import envoy_pyext and let the Cython side finish the set-up, then release the GIL.
// CPython is never finalised: `do_not_close: true` is required in the Envoy config.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <utility>

#include "envoy_abi.h"
#include "log.h"
#include "pyext_shim.h"

#define PYEXT_EXPORT extern "C" __attribute__((visibility("default")))

#ifndef PYEXT_PYTHON
#define PYEXT_PYTHON ""
#endif

extern "C" PyObject* PyInit__native(void);
PYEXT_EXPORT const char* envoy_dynamic_module_on_program_init(void);

namespace {

struct Required {
  const char* name;
  const void* address;
};

// The callbacks on PYEXT_ENVOY_CALLBACKS (envoy_abi.h): exactly the ones the code calls. A
// missing one means an Envoy this module was not built for.
std::string missing_callbacks() {
  const Required required[] = {
#define PYEXT_REQUIRED(f) {#f, reinterpret_cast<const void*>(&f)},
      PYEXT_ENVOY_CALLBACKS(PYEXT_REQUIRED)
#undef PYEXT_REQUIRED
  };
  std::string missing;
  for (const auto& r : required) {
    if (r.address == nullptr) missing += std::string(missing.empty() ? "" : ", ") + r.name;
  }
  return missing;
}

std::string dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool is_executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// This file's own path (symlinks resolved), from the dynamic loader.
std::string own_path() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&envoy_dynamic_module_on_program_init), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  char* real = realpath(info.dli_fname, nullptr);
  if (real == nullptr) return info.dli_fname;
  std::string out(real);
  free(real);
  return out;
}

// The python of the installation this file was installed into: a wheel puts it at
// <prefix>/lib/pythonX.Y/site-packages/envoy_pyext/libpyfilter.so, where <prefix> is a
// virtualenv (pyvenv.cfg; its bin/python) or a base install (its bin/pythonX.Y). Found at run
// time, so a virtualenv can be moved or copied into an image. "" when it is not so installed.
std::string python_from_own_location() {
  const std::string so = own_path();
  const std::string package = dirname(so);
  const std::string site = dirname(package);
  const std::string libpy = dirname(site);
  const std::string version = std::to_string(PY_MAJOR_VERSION) + "." +
                              std::to_string(PY_MINOR_VERSION);
  const std::string site_name = basename(site);  // Debian: dist-packages
  if (basename(package) != "envoy_pyext" ||
      (site_name != "site-packages" && site_name != "dist-packages") ||
      basename(libpy) != "python" + version) {
    return "";
  }
  const std::string prefix = dirname(dirname(libpy));
  if (access((prefix + "/pyvenv.cfg").c_str(), R_OK) == 0) {
    for (const char* name : {"/bin/python", "/bin/python3"}) {
      if (is_executable(prefix + name)) return prefix + name;
    }
  }
  if (is_executable(prefix + "/bin/python" + version)) return prefix + "/bin/python" + version;
  return "";
}

// The interpreter to impersonate (its sys.prefix and site-packages follow from it):
//  1. $ENVOY_PYEXT_PYTHON, an explicit override;
//  2. the installation this file lies in (python_from_own_location);
//  3. the active virtualenv ($VIRTUAL_ENV/bin/python);
//  4. the python a source-checkout build baked in (-DPYEXT_PYTHON; wheels bake in nothing).
// The second element says which one.
std::pair<std::string, const char*> python_executable() {
  const char* explicit_python = std::getenv("ENVOY_PYEXT_PYTHON");
  if (explicit_python != nullptr && *explicit_python != '\0') {
    return {explicit_python, "$ENVOY_PYEXT_PYTHON"};
  }
  std::string own = python_from_own_location();
  if (!own.empty()) return {own, "the installation libpyfilter.so is in"};
  const char* venv = std::getenv("VIRTUAL_ENV");
  if (venv != nullptr && *venv != '\0') {
    std::string candidate = std::string(venv) + "/bin/python";
    if (is_executable(candidate)) return {candidate, "$VIRTUAL_ENV"};
  }
  return {PYEXT_PYTHON, "built in"};
}

bool make_libpython_global() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&Py_Initialize), &info) == 0 || info.dli_fname == nullptr) {
    return false;
  }
  // The handle is deliberately never closed: CPython cannot be unloaded.
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD) != nullptr;
}

// Formats the pending Python exception with its traceback and clears it.
std::string take_python_error() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string text = "unknown Python error";
  PyObject* mod = PyImport_ImportModule("traceback");
  if (mod != nullptr && value != nullptr) {
    PyObject* lines = PyObject_CallMethod(mod, "format_exception", "OOO", type ? type : Py_None,
                                          value, tb ? tb : Py_None);
    if (lines != nullptr) {
      PyObject* empty = PyUnicode_FromString("");
      PyObject* joined = empty ? PyUnicode_Join(empty, lines) : nullptr;
      const char* utf8 = joined ? PyUnicode_AsUTF8(joined) : nullptr;
      if (utf8 != nullptr) text = utf8;
      Py_XDECREF(joined);
      Py_XDECREF(empty);
      Py_DECREF(lines);
    }
  }
  Py_XDECREF(mod);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return text;
}

void log_critical(const std::string& message) {
  pyext::log_at(envoy_dynamic_module_type_log_level_Critical, message.c_str());
}

}  // namespace

PYEXT_EXPORT const char* envoy_dynamic_module_on_program_init(void) {
  const std::string missing = missing_callbacks();
  if (!missing.empty()) {
    pyext::log_error(("envoy-pyext: this Envoy does not export callbacks libpyfilter.so needs (" +
                      missing + "); it was built for Envoy 1.40 (ABI " PYEXT_ENVOY_ABI_VERSION ")")
                         .c_str());
    return nullptr;
  }
  if (!make_libpython_global()) {
    log_critical("envoy-pyext: could not re-open libpython with RTLD_GLOBAL");
    return nullptr;
  }
  if (Py_IsInitialized()) {
    log_critical("envoy-pyext: a Python interpreter is already running in this process");
    return nullptr;
  }
  if (PyImport_AppendInittab("envoy_pyext._native", PyInit__native) != 0) {
    log_critical("envoy-pyext: could not register the envoy_pyext._native builtin module");
    return nullptr;
  }

  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;  // Envoy owns SIGINT/SIGTERM and crash handlers.
  config.parse_argv = 0;
  const auto [exe, exe_source] = python_executable();
  const std::string python_said =
      (exe.empty() ? std::string("the default") : exe) + ", from " + exe_source;
  pyext::log_at(envoy_dynamic_module_type_log_level_Debug,
                ("envoy-pyext: starting Python as " + python_said).c_str());
  PyStatus status = PyStatus_Ok();
  if (!exe.empty()) status = PyConfig_SetBytesString(&config, &config.program_name, exe.c_str());
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    log_critical(std::string("envoy-pyext: Python failed to start: ") +
                 (status.err_msg ? status.err_msg : "unknown error"));
    return nullptr;
  }

  // From here on we hold the GIL on Envoy's main thread.
  bool ok = false;
  PyObject* pkg = PyImport_ImportModule("envoy_pyext");
  if (pkg == nullptr) {
    log_critical("envoy-pyext: cannot import the envoy_pyext package (is it installed in the "
                 "virtualenv Envoy was started from? python: " +
                 python_said + ")\n" + take_python_error());
  } else {
    Py_DECREF(pkg);
    ok = pyext_bootstrap() == 0;
  }
  PyEval_SaveThread();  // Envoy's main thread keeps its thread state; see gil.h.
  return ok ? PYEXT_ENVOY_ABI_VERSION : nullptr;
}
