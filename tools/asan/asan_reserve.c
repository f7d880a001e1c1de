/* envoy-pyext: Apache-2.0
 * Preloaded into Envoy (LD_PRELOAD) when it runs the AddressSanitizer build of libpyfilter.so
 * (tests/integration/sanitizers.py); built by tools/build_so.py --asan. Not ASan itself:
 * preloading libasan cannot work with this Envoy (docs/RELIABILITY.md, "Sanitizers").
 *
 * libasan arrives with the module, late, and then claims fixed address ranges: its shadow
 * memory (x86_64: [0x7fff8000, 0x10007fff8000)) and its allocator's space
 * ([0x600000000000, 0x640000000000)). Envoy's tcmalloc places its mappings at random
 * addresses from the start, so they sometimes lie there: ASan then aborts ("Shadow memory
 * range interleaves ...") or silently maps over tcmalloc's memory, which faults later.
 * This library reserves both ranges (PROT_NONE, no memory committed) before Envoy allocates
 * anything, so nothing else is placed there, and gives them back in dlopen() just before the
 * module (and with it libasan) is loaded. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static const struct {
  uintptr_t start, end;
} ranges[] = {
    {0x00007fff8000ULL, 0x10007fff8000ULL}, /* ASan's shadow (low, gap, high) */
    {0x600000000000ULL, 0x640000000000ULL}, /* ASan's allocator space */
};
#define NRANGES (sizeof ranges / sizeof ranges[0])
static int reserved[NRANGES];

__attribute__((constructor(101))) static void reserve(void) {
  for (unsigned i = 0; i < NRANGES; i++) {
    size_t len = ranges[i].end - ranges[i].start;
    void* p = mmap((void*)ranges[i].start, len, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    reserved[i] = p == (void*)ranges[i].start;
    if (!reserved[i]) {
      if (p != MAP_FAILED) munmap(p, len);
      fprintf(stderr, "envoy-pyext asan_reserve: could not reserve [%#lx, %#lx)\n",
              (unsigned long)ranges[i].start, (unsigned long)ranges[i].end);
    }
  }
}

static void release(void) {
  for (unsigned i = 0; i < NRANGES; i++) {
    if (reserved[i]) munmap((void*)ranges[i].start, ranges[i].end - ranges[i].start);
    reserved[i] = 0;
  }
}

void* dlopen(const char* file, int mode) {
  static void* (*real_dlopen)(const char*, int);
  if (real_dlopen == NULL) real_dlopen = (void* (*)(const char*, int))dlsym(RTLD_NEXT, "dlopen");
  if (file != NULL && strstr(file, "libpyfilter") != NULL) release();
  return real_dlopen(file, mode);
}
