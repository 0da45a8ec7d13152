/* A stand-in for companion.exe in installer tests: records that it ran and with what
   arguments (%LOCALAPPDATA%\companion-stub-ran.txt), then exits. */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>
int main(void) {
  char path[MAX_PATH];
  DWORD n = GetEnvironmentVariableA("LOCALAPPDATA", path, MAX_PATH);
  if (n == 0 || n > MAX_PATH - 32) return 1;
  strcat(path, "\\companion-stub-ran.txt");
  FILE *f = fopen(path, "a");
  if (!f) return 1;
  fprintf(f, "%s\n", GetCommandLineA());
  fclose(f);
  return 0;
}
