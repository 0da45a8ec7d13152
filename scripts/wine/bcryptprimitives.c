/* Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust >= 1.78 binaries import for
 * ProcessPrng; Windows 10+ ships it. scripts/wine-e2e builds this stand-in with mingw-w64 and
 * drops it into the test prefix's system32. ProcessPrng = RtlGenRandom (SystemFunction036). */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk; len -= chunk;
  }
  return TRUE;
}
