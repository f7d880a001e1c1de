// envoy-pyext: Apache-2.0
// Compiled into the AddressSanitizer build of libpyfilter.so only (build_config.json "asan",
// tools/build_so.py --asan). See docs/RELIABILITY.md, "Sanitizers".
//
// Envoy exports its own tcmalloc malloc/free, and libasan arrives as a dependency of this
// module (not LD_PRELOADed: that crashes this Envoy), so every malloc call, ours and CPython's,
// would resolve to tcmalloc and ASan would never see a heap block. This file routes them to
// ASan's heap instead:
//   - CPython's three allocator domains (raw, mem, object: every Python object and buffer,
//     pymalloc's arenas bypassed) through PyMem_SetAllocator, set when this module is loaded,
//     before the shim initialises the interpreter;
//   - this module's own malloc family and operator new/delete, through the linker's --wrap
//     (build_config.json's asan ldflags name the symbols): __wrap_X calls libasan's X.
// libasan's functions are found with dlsym on libasan's own handle (found from __asan_init,
// which the instrumented code links against), so nothing depends on interceptor names.
// pyext_asan_routed() counts the blocks routed, for the test that checks the routing is live.

#include <Python.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

extern "C" void __asan_init();

namespace {

struct AsanHeap {
  void* (*malloc)(size_t);
  void* (*calloc)(size_t, size_t);
  void* (*realloc)(void*, size_t);
  void (*free)(void*);
  int (*posix_memalign)(void**, size_t, size_t);
  void* (*aligned_alloc)(size_t, size_t);
  void* (*op_new)(size_t);
  void* (*op_new_array)(size_t);
  void (*op_delete)(void*);
  void (*op_delete_array)(void*);
};

std::atomic<long> routed{0};

void* must(void* handle, const char* name) {
  void* sym = dlsym(handle, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "envoy-pyext (asan build): libasan has no %s\n", name);
    std::abort();
  }
  return sym;
}

const AsanHeap& heap() {
  static const AsanHeap h = [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&__asan_init), &info) == 0 || info.dli_fname == nullptr) {
      std::fprintf(stderr, "envoy-pyext (asan build): libasan not found\n");
      std::abort();
    }
    void* lib = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (lib == nullptr) std::abort();
    AsanHeap a;
    a.malloc = reinterpret_cast<void* (*)(size_t)>(must(lib, "malloc"));
    a.calloc = reinterpret_cast<void* (*)(size_t, size_t)>(must(lib, "calloc"));
    a.realloc = reinterpret_cast<void* (*)(void*, size_t)>(must(lib, "realloc"));
    a.free = reinterpret_cast<void (*)(void*)>(must(lib, "free"));
    a.posix_memalign =
        reinterpret_cast<int (*)(void**, size_t, size_t)>(must(lib, "posix_memalign"));
    a.aligned_alloc = reinterpret_cast<void* (*)(size_t, size_t)>(must(lib, "aligned_alloc"));
    a.op_new = reinterpret_cast<void* (*)(size_t)>(must(lib, "_Znwm"));
    a.op_new_array = reinterpret_cast<void* (*)(size_t)>(must(lib, "_Znam"));
    a.op_delete = reinterpret_cast<void (*)(void*)>(must(lib, "_ZdlPv"));
    a.op_delete_array = reinterpret_cast<void (*)(void*)>(must(lib, "_ZdaPv"));
    return a;
  }();
  return h;
}

// ---- CPython's allocators -----------------------------------------------------------------

void* py_malloc(void*, size_t n) {
  routed.fetch_add(1, std::memory_order_relaxed);
  return heap().malloc(n ? n : 1);
}
void* py_calloc(void*, size_t count, size_t size) {
  routed.fetch_add(1, std::memory_order_relaxed);
  return heap().calloc(count ? count : 1, size ? size : 1);
}
void* py_realloc(void*, void* p, size_t n) { return heap().realloc(p, n ? n : 1); }
void py_free(void*, void* p) { heap().free(p); }

__attribute__((constructor)) void route_python_allocators() {
  PyMemAllocatorEx a = {nullptr, py_malloc, py_calloc, py_realloc, py_free};
  PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &a);
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &a);
  PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &a);
}

}  // namespace

// ---- this module's own allocations (-Wl,--wrap=...) ----------------------------------------

extern "C" {
#define PYEXT_ASAN_EXPORT __attribute__((visibility("default")))

void* __wrap_malloc(size_t n) {
  routed.fetch_add(1, std::memory_order_relaxed);
  return heap().malloc(n);
}
void* __wrap_calloc(size_t c, size_t n) {
  routed.fetch_add(1, std::memory_order_relaxed);
  return heap().calloc(c, n);
}
void* __wrap_realloc(void* p, size_t n) { return heap().realloc(p, n); }
void __wrap_free(void* p) { heap().free(p); }
int __wrap_posix_memalign(void** out, size_t align, size_t n) {
  return heap().posix_memalign(out, align, n);
}
void* __wrap_aligned_alloc(size_t align, size_t n) { return heap().aligned_alloc(align, n); }
void* __wrap__Znwm(size_t n) {  // operator new
  routed.fetch_add(1, std::memory_order_relaxed);
  return heap().op_new(n);
}
void* __wrap__Znam(size_t n) { return heap().op_new_array(n); }       // operator new[]
void __wrap__ZdlPv(void* p) { heap().op_delete(p); }                  // operator delete
void __wrap__ZdaPv(void* p) { heap().op_delete_array(p); }            // operator delete[]
void __wrap__ZdlPvm(void* p, size_t) { heap().op_delete(p); }         // sized delete
void __wrap__ZdaPvm(void* p, size_t) { heap().op_delete_array(p); }   // sized delete[]

// Blocks routed to ASan's heap so far (the test checks the routing is live).
PYEXT_ASAN_EXPORT long pyext_asan_routed() { return routed.load(); }
}
