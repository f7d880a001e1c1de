// envoy-pyext: Apache-2.0
// Compiled into the AddressSanitizer build of libpyfilter.so only (build_config.json "asan").
// A deliberate heap-use-after-free, called through ctypes by tests/asan's filter: the test
// expects ASan's report in Envoy's log, proving that a bad access in this module is caught.
// The block comes from the module's own operator new, routed to ASan's heap like every other
// allocation of the module (tools/asan/asan_heap.cc).

extern "C" __attribute__((visibility("default"))) int pyext_asan_selftest_use_after_free(int i) {
  char* volatile block = new char[32];
  for (int k = 0; k < 32; ++k) block[k] = static_cast<char>('a' + k % 26);
  delete[] block;
  return block[i & 31];  // read after delete[]: ASan reports heap-use-after-free
}
