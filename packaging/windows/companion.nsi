; Companion's Windows installer (NSIS, built on Linux with Debian's makensis: no
; download at build time). Built by scripts/windows-installer:
;   makensis -DVERSION=x.y.z -DAPP_EXE=path/to/companion.exe -DOUTFILE=out.exe companion.nsi
;
; Per-user install (no UAC prompt) into %LOCALAPPDATA%\Programs\Companion, a Start menu
; entry, the companion:// URL scheme, an Add/Remove Programs entry, optional start at
; login, a WebView2 check, and an uninstaller that keeps the user's data unless asked.
;
; Command line (what tauri-plugin-updater passes for an NSIS update is
; `[/P | /S] /UPDATE [/R /ARGS <app args...>]`):
;   /S            silent (NSIS built-in)         /P        passive: progress only, no questions
;   /UPDATE       an update over an existing install: keep the start-at-login choice
;   /R            start the app when done        /ARGS ... the rest of the line is passed to it
;   /AUTOSTART=1  start at login (=0: do not)    /D=DIR    install directory (NSIS built-in)
; Uninstaller: /S silent, /DELETEDATA also removes the user's data (%APPDATA%\dev.companion.app,
;   %LOCALAPPDATA%\dev.companion.app).
; Warnings (no WebView2 in silent/passive mode) go to %TEMP%\companion-install.log.

; 64-bit stub: Wine here (and the app) is 64-bit only.
Target amd64-unicode
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "StrFunc.nsh"
${StrStr}
${UnStrStr}

!ifndef VERSION
  !error "-DVERSION=x.y.z is required"
!endif
!ifndef APP_EXE
  !error "-DAPP_EXE=path/to/companion.exe is required"
!endif
!ifndef OUTFILE
  !define OUTFILE "Companion_${VERSION}_x64-setup.exe"
!endif

!define PRODUCT "Companion"
!define IDENTIFIER "dev.companion.app"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT}"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define WEBVIEW2_GUID "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
!define WEBVIEW2_URL "https://developer.microsoft.com/microsoft-edge/webview2/"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${PRODUCT}"
SetCompressor /SOLID lzma
ShowInstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "LegalCopyright" "MIT"

Var Passive
Var Update
Var Restart
Var AppArgs
Var Autostart

Page directory SkipIfQuiet
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Function SkipIfQuiet
  ${If} $Passive == 1
  ${OrIf} $Update == 1
    Abort
  ${EndIf}
FunctionEnd

Function Log ; message on the stack -> %TEMP%\companion-install.log and the details view
  Exch $0
  Push $1
  DetailPrint "$0"
  FileOpen $1 "$TEMP\companion-install.log" a
  FileSeek $1 0 END
  FileWrite $1 "$0$\r$\n"
  FileClose $1
  Pop $1
  Pop $0
FunctionEnd

Function .onInit
  SetShellVarContext current
  StrCpy $Passive 0
  StrCpy $Update 0
  StrCpy $Restart 0
  StrCpy $AppArgs ""
  StrCpy $Autostart ""
  ${GetParameters} $R0
  ; Everything after /ARGS belongs to the app; options are only read before it.
  ${StrStr} $R1 $R0 "/ARGS"
  ${If} $R1 != ""
    StrLen $R2 $R0
    StrLen $R3 $R1
    IntOp $R2 $R2 - $R3
    StrCpy $R0 $R0 $R2
    StrCpy $AppArgs $R1 "" 5
    ; drop the separating space
    StrCpy $R4 $AppArgs 1
    ${If} $R4 == " "
      StrCpy $AppArgs $AppArgs "" 1
    ${EndIf}
  ${EndIf}
  StrCpy $R0 " $R0 "
  ${StrStr} $R1 $R0 " /P "
  ${If} $R1 != ""
    StrCpy $Passive 1
    SetAutoClose true
  ${EndIf}
  ${StrStr} $R1 $R0 " /UPDATE "
  ${If} $R1 != ""
    StrCpy $Update 1
  ${EndIf}
  ${StrStr} $R1 $R0 " /R "
  ${If} $R1 != ""
    StrCpy $Restart 1
  ${EndIf}
  ${GetOptions} $R0 "/AUTOSTART=" $R2
  ${IfNot} ${Errors}
    StrCpy $Autostart $R2
  ${EndIf}
  ${If} ${Silent}
    SetAutoClose true
  ${EndIf}
FunctionEnd

Function CheckWebView2
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${If} $0 == ""
    ReadRegStr $0 HKLM "SOFTWARE\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 == ""
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_GUID}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ${If} ${Silent}
    ${OrIf} $Passive == 1
      Push "warning: Microsoft Edge WebView2 Runtime not found; Companion needs it to start (${WEBVIEW2_URL}). Installing anyway."
      Call Log
    ${Else}
      MessageBox MB_YESNO|MB_ICONEXCLAMATION "Companion needs the Microsoft Edge WebView2 Runtime, which is not installed.$\r$\n$\r$\nOpen the download page (${WEBVIEW2_URL}) now? The installation continues either way." IDNO +2
        ExecShell "open" "${WEBVIEW2_URL}"
      Push "warning: Microsoft Edge WebView2 Runtime not found (${WEBVIEW2_URL})"
      Call Log
    ${EndIf}
  ${Else}
    Push "WebView2 Runtime $0 found"
    Call Log
  ${EndIf}
FunctionEnd

Section "Install"
  SetShellVarContext current
  Call CheckWebView2
  SetOutPath "$INSTDIR"
  ; The updater exits the running app right after starting us: wait for the old
  ; companion.exe to be released before overwriting it.
  StrCpy $1 0
  ${Do}
    ClearErrors
    ${IfNot} ${FileExists} "$INSTDIR\companion.exe"
      ${Break}
    ${EndIf}
    Delete "$INSTDIR\companion.exe"
    ${IfNot} ${Errors}
      ${Break}
    ${EndIf}
    IntOp $1 $1 + 1
    ${If} $1 > 40
      Push "error: $INSTDIR\companion.exe is in use; close Companion and run the installer again"
      Call Log
      Abort
    ${EndIf}
    Sleep 250
  ${Loop}
  File "/oname=companion.exe" "${APP_EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS"
  CreateShortcut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\companion.exe" "" "$INSTDIR\companion.exe" 0

  ; companion:// (pairing deep links), per user.
  WriteRegStr HKCU "Software\Classes\companion" "" "URL:Companion"
  WriteRegStr HKCU "Software\Classes\companion" "URL Protocol" ""
  WriteRegStr HKCU "Software\Classes\companion\DefaultIcon" "" "$\"$INSTDIR\companion.exe$\",0"
  WriteRegStr HKCU "Software\Classes\companion\shell\open\command" "" "$\"$INSTDIR\companion.exe$\" $\"%1$\""

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PRODUCT}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$\"$INSTDIR\companion.exe$\""
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" "$\"$INSTDIR\uninstall.exe$\""
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" "$\"$INSTDIR\uninstall.exe$\" /S"
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1

  ; Start at login: as asked (/AUTOSTART=1|0); an update keeps the user's choice (the
  ; app's own autostart setting writes the same value).
  ${If} $Autostart == "1"
    WriteRegStr HKCU "${RUN_KEY}" "${PRODUCT}" "$\"$INSTDIR\companion.exe$\" --minimized"
  ${ElseIf} $Autostart == "0"
    DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
  ${EndIf}

  Push "installed ${PRODUCT} ${VERSION} in $INSTDIR"
  Call Log
  ${If} $Restart == 1
    Exec "$\"$INSTDIR\companion.exe$\" $AppArgs"
  ${EndIf}
SectionEnd

Var DeleteData

Function un.onInit
  SetShellVarContext current
  StrCpy $DeleteData 0
  ${GetParameters} $R0
  StrCpy $R0 " $R0 "
  ${UnStrStr} $R1 $R0 " /DELETEDATA "
  ${If} $R1 != ""
    StrCpy $DeleteData 1
  ${EndIf}
FunctionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$INSTDIR\companion.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  DeleteRegKey HKCU "Software\Classes\companion"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegValue HKCU "${RUN_KEY}" "${PRODUCT}"
  ; The user's data (pairing, settings, journal) stays unless asked.
  ${If} $DeleteData == 1
    RMDir /r "$APPDATA\${IDENTIFIER}"
    RMDir /r "$LOCALAPPDATA\${IDENTIFIER}"
  ${EndIf}
SectionEnd
