// mql5_builtins.h -- an independent, deliberately strict C++ model of exactly the MQL5 built-ins
// that CompanionBridge.mq5 uses, written for this check from the MQL5 reference signatures
// (mql5.com/en/docs, MQL5 book). Differences from MQL_clangd's compat header:
//  * 'string' converts to nothing and from nothing but literals/strings; concatenating a number
//    warns (MetaEditor warns "implicit conversion from 'number' to 'string'");
//  * property ids are typed enums (passing the wrong family is an error, as in MetaEditor);
//  * array parameters are references to arrays of the exact element type ('uchar &buffer[]');
//  * 'input' expands to 'const' so any write to an input is an error (MQL5: inputs are constants);
//  * return types as documented (SocketIsReadable -> uint, TerminalInfoInteger -> int, ...).
//
// Copied from ../shared/mql5/ into the repo for scripts/mql5-check; local changes: the name
// above, and no string(nullptr_t) constructor (see the class). To extend it when the EA
// starts using another built-in (clang says "use of undeclared identifier"): declare it here
// with the parameter and return types of its page in the MQL5 reference; 'T &a[]' becomes
// 'template<size_t N> ... T (&a)[N]' (the pre-pass turns unsized arrays into T a[1]); a new
// property id goes into the enum of its family, never a plain #define or int. Enum values
// are placeholders unless the reference gives them (the check is about types, not values).
#pragma once
typedef decltype(sizeof(0)) size_t;
typedef unsigned char  uchar;
typedef unsigned short ushort;
typedef unsigned int   uint;
typedef unsigned long  ulong;      // 64-bit on LP64, like MQL5 ulong
typedef long           datetime;   // MQL5 datetime: 8-byte seconds since 1970
#define input const
#define sinput const              // static input: a constant too

class string {
public:
    string() {}
    string(const char *) {}
    // No string(nullptr_t): NULL is the literal 0 here, which converts through const char*
    // only (Trade.mqh defaults 'symbol=NULL'); with both constructors '=NULL' is ambiguous.
    string(const string &) {}
    string &operator=(const string &) { return *this; }
    string &operator=(const char *) { return *this; }
    string &operator+=(const string &) { return *this; }
    string &operator+=(const char *) { return *this; }
    friend string operator+(const string &, const string &) { return string(); }
    friend string operator+(const string &, const char *) { return string(); }
    friend string operator+(const char *, const string &) { return string(); }
    [[deprecated("MQL5 warning: implicit conversion from 'number' to 'string'")]]
    friend string operator+(const string &, long) { return string(); }
    [[deprecated("MQL5 warning: implicit conversion from 'number' to 'string'")]]
    friend string operator+(const string &, double) { return string(); }
    friend bool operator==(const string &, const string &) { return true; }
    friend bool operator==(const string &, const char *) { return true; }
    friend bool operator!=(const string &, const string &) { return true; }
    friend bool operator!=(const string &, const char *) { return true; }
};

#undef NULL
#define NULL 0
#define INVALID_HANDLE (-1)
#define WHOLE_ARRAY (-1)
#define CP_ACP  0
#define CP_UTF8 65001
#define FILE_READ 1
#define FILE_WRITE 2
#define FILE_TXT 16
#define FILE_UNICODE 64
#define SYMBOL_FILLING_FOK 1
#define SYMBOL_FILLING_IOC 2
// SYMBOL_ORDER_MODE flags (reference: "Allowed order types")
#define SYMBOL_ORDER_SL 16
#define SYMBOL_ORDER_TP 32
#define ULONG_MAX 0xFFFFFFFFFFFFFFFFUL
// trade server return codes are plain integer constants in MQL5
#define TRADE_RETCODE_PLACED 10008
#define TRADE_RETCODE_DONE 10009
#define TRADE_RETCODE_DONE_PARTIAL 10010
#define TRADE_RETCODE_INVALID 10013
#define TRADE_RETCODE_INVALID_VOLUME 10014
#define TRADE_RETCODE_INVALID_STOPS 10016
#define TRADE_RETCODE_CLIENT_DISABLES_AT 10027
#define TRADE_RETCODE_INVALID_FILL 10030
#define TRADE_RETCODE_POSITION_CLOSED 10036

enum ENUM_TIMEFRAMES { PERIOD_CURRENT=0, PERIOD_M1=1, PERIOD_M5=5, PERIOD_M15=15, PERIOD_M30=30, PERIOD_H1=16385, PERIOD_H4=16388, PERIOD_D1=16408, PERIOD_W1=32769, PERIOD_MN1=49153 };
enum ENUM_INIT_RETCODE { INIT_SUCCEEDED=0, INIT_FAILED=1, INIT_PARAMETERS_INCORRECT=2, INIT_AGENT_NOT_SUITABLE=3 };
enum ENUM_ACCOUNT_INFO_INTEGER { ACCOUNT_LOGIN, ACCOUNT_LEVERAGE, ACCOUNT_MARGIN_MODE, ACCOUNT_TRADE_ALLOWED, ACCOUNT_TRADE_EXPERT, ACCOUNT_TRADE_MODE };
enum ENUM_ACCOUNT_INFO_DOUBLE { ACCOUNT_BALANCE, ACCOUNT_EQUITY, ACCOUNT_MARGIN, ACCOUNT_MARGIN_FREE };
enum ENUM_ACCOUNT_INFO_STRING { ACCOUNT_SERVER, ACCOUNT_COMPANY, ACCOUNT_CURRENCY, ACCOUNT_NAME };
enum ENUM_ACCOUNT_MARGIN_MODE { ACCOUNT_MARGIN_MODE_RETAIL_NETTING=0, ACCOUNT_MARGIN_MODE_EXCHANGE=1, ACCOUNT_MARGIN_MODE_RETAIL_HEDGING=2 };
enum ENUM_ACCOUNT_TRADE_MODE { ACCOUNT_TRADE_MODE_DEMO=0, ACCOUNT_TRADE_MODE_CONTEST=1, ACCOUNT_TRADE_MODE_REAL=2 };
enum ENUM_TERMINAL_INFO_INTEGER { TERMINAL_BUILD, TERMINAL_CONNECTED, TERMINAL_TRADE_ALLOWED };
enum ENUM_TERMINAL_INFO_STRING { TERMINAL_NAME, TERMINAL_DATA_PATH };
enum ENUM_MQL_INFO_INTEGER { MQL_TESTER, MQL_TRADE_ALLOWED };
enum ENUM_SYMBOL_INFO_INTEGER { SYMBOL_DIGITS, SYMBOL_FILLING_MODE, SYMBOL_TRADE_EXEMODE, SYMBOL_TRADE_MODE, SYMBOL_TRADE_STOPS_LEVEL, SYMBOL_VISIBLE, SYMBOL_SELECT,
    SYMBOL_ORDER_MODE };
enum ENUM_SYMBOL_INFO_STRING { SYMBOL_CURRENCY_PROFIT, SYMBOL_DESCRIPTION, SYMBOL_PATH };
enum ENUM_SYMBOL_TRADE_MODE { SYMBOL_TRADE_MODE_DISABLED, SYMBOL_TRADE_MODE_LONGONLY, SYMBOL_TRADE_MODE_SHORTONLY, SYMBOL_TRADE_MODE_CLOSEONLY, SYMBOL_TRADE_MODE_FULL };
enum ENUM_SYMBOL_TRADE_EXECUTION { SYMBOL_TRADE_EXECUTION_REQUEST, SYMBOL_TRADE_EXECUTION_INSTANT, SYMBOL_TRADE_EXECUTION_MARKET, SYMBOL_TRADE_EXECUTION_EXCHANGE };
enum ENUM_SYMBOL_INFO_DOUBLE { SYMBOL_POINT, SYMBOL_TRADE_CONTRACT_SIZE, SYMBOL_TRADE_TICK_SIZE, SYMBOL_TRADE_TICK_VALUE, SYMBOL_VOLUME_MIN, SYMBOL_VOLUME_MAX, SYMBOL_VOLUME_STEP, SYMBOL_ASK, SYMBOL_BID };
enum ENUM_POSITION_PROPERTY_INTEGER { POSITION_TICKET, POSITION_TIME, POSITION_TYPE, POSITION_MAGIC, POSITION_IDENTIFIER };
enum ENUM_POSITION_PROPERTY_DOUBLE { POSITION_VOLUME, POSITION_PRICE_OPEN, POSITION_SL, POSITION_TP, POSITION_PRICE_CURRENT, POSITION_SWAP, POSITION_PROFIT };
enum ENUM_POSITION_PROPERTY_STRING { POSITION_SYMBOL, POSITION_COMMENT };
enum ENUM_POSITION_TYPE { POSITION_TYPE_BUY, POSITION_TYPE_SELL };
enum ENUM_DEAL_PROPERTY_INTEGER { DEAL_TICKET, DEAL_ORDER, DEAL_TIME, DEAL_TYPE, DEAL_ENTRY, DEAL_MAGIC, DEAL_POSITION_ID };
enum ENUM_DEAL_PROPERTY_DOUBLE { DEAL_VOLUME, DEAL_PRICE, DEAL_COMMISSION, DEAL_SWAP, DEAL_PROFIT, DEAL_FEE };
enum ENUM_DEAL_PROPERTY_STRING { DEAL_SYMBOL, DEAL_COMMENT };
enum ENUM_DEAL_TYPE { DEAL_TYPE_BUY, DEAL_TYPE_SELL };
enum ENUM_DEAL_ENTRY { DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY };
enum ENUM_ORDER_PROPERTY_INTEGER { ORDER_TICKET, ORDER_TIME_SETUP, ORDER_TYPE, ORDER_STATE, ORDER_POSITION_ID, ORDER_MAGIC, ORDER_TIME_EXPIRATION };
enum ENUM_ORDER_PROPERTY_DOUBLE { ORDER_VOLUME_INITIAL, ORDER_PRICE_OPEN, ORDER_VOLUME_CURRENT, ORDER_SL, ORDER_TP };
enum ENUM_ORDER_PROPERTY_STRING { ORDER_SYMBOL, ORDER_COMMENT };
enum ENUM_ORDER_TYPE { ORDER_TYPE_BUY, ORDER_TYPE_SELL, ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT, ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP };
enum ENUM_ORDER_STATE { ORDER_STATE_STARTED, ORDER_STATE_PLACED, ORDER_STATE_CANCELED, ORDER_STATE_PARTIAL, ORDER_STATE_FILLED, ORDER_STATE_REJECTED, ORDER_STATE_EXPIRED };
enum ENUM_ORDER_TYPE_FILLING { ORDER_FILLING_FOK=0, ORDER_FILLING_IOC=1, ORDER_FILLING_RETURN=2 };
enum ENUM_ORDER_TYPE_TIME { ORDER_TIME_GTC=0, ORDER_TIME_SPECIFIED=2 };
enum ENUM_TRADE_REQUEST_ACTIONS { TRADE_ACTION_DEAL=1, TRADE_ACTION_PENDING=5 };
enum ENUM_CHART_PROPERTY_STRING { CHART_COMMENT, CHART_EXPERT_NAME, CHART_SCRIPT_NAME };

struct MqlTick  { datetime time; double bid; double ask; double last; ulong volume; long time_msc; uint flags; double volume_real; };
struct MqlRates { datetime time; double open; double high; double low; double close; long tick_volume; int spread; long real_volume; };
struct MqlTradeRequest {
    ENUM_TRADE_REQUEST_ACTIONS action; ulong magic; ulong order; string symbol; double volume; double price;
    double stoplimit; double sl; double tp; ulong deviation; ENUM_ORDER_TYPE type; ENUM_ORDER_TYPE_FILLING type_filling;
    ENUM_ORDER_TYPE_TIME type_time; datetime expiration; string comment; ulong position; ulong position_by; };
struct MqlTradeResult { uint retcode; ulong deal; ulong order; double volume; double price; double bid; double ask; string comment; uint request_id; int retcode_external; };
struct MqlTradeCheckResult { uint retcode; double balance; double equity; double profit; double margin; double margin_free; double margin_level; string comment; };

// ---- Common / environment
int      GetLastError();
void     ResetLastError();
void     Sleep(int milliseconds);
ulong    GetMicrosecondCount();
ulong    GetTickCount64();
datetime TimeCurrent();
datetime TimeTradeServer();
datetime TimeGMT();
template<class... A> void Print(const A &...);
template<class... A> void PrintFormat(const string &format, const A &...);
template<class... A> string StringFormat(const string &format, const A &...);
template<class T> void ZeroMemory(T &variable);
int      MQLInfoInteger(ENUM_MQL_INFO_INTEGER property_id);
int      TerminalInfoInteger(ENUM_TERMINAL_INFO_INTEGER property_id);
string   TerminalInfoString(ENUM_TERMINAL_INFO_STRING property_id);
bool     EventSetMillisecondTimer(int milliseconds);
void     EventKillTimer();
// ---- Account
double   AccountInfoDouble(ENUM_ACCOUNT_INFO_DOUBLE property_id);
long     AccountInfoInteger(ENUM_ACCOUNT_INFO_INTEGER property_id);
string   AccountInfoString(ENUM_ACCOUNT_INFO_STRING property_id);
// ---- Arrays (MQL5: 'void &array[]' = any array by reference)
template<class T, size_t N> int  ArraySize(const T (&array)[N]);
template<class T, size_t N> int  ArrayResize(T (&array)[N], int new_size, int reserve_size = 0);
template<class T, size_t N> bool ArraySetAsSeries(const T (&array)[N], bool flag);
template<class T, size_t N, size_t M> int ArrayCopy(T (&dst_array)[N], const T (&src_array)[M], int dst_start = 0, int src_start = 0, int count = WHOLE_ARRAY);
// ---- Conversion / strings
template<size_t N> int    StringToCharArray(const string &text_string, uchar (&array)[N], int start = 0, int count = -1, uint codepage = CP_ACP);
template<size_t N> string CharArrayToString(const uchar (&array)[N], int start = 0, int count = -1, uint codepage = CP_ACP);
string   DoubleToString(double value, int digits = 8);
string   IntegerToString(long number, int str_len = 0, ushort fill_symbol = ' ');
string   ShortToString(ushort symbol_code);
long     StringToInteger(const string &value);
double   StringToDouble(const string &value);
int      StringFind(const string &string_value, const string &match_substring, int start_pos = 0);
ushort   StringGetCharacter(const string &string_value, int pos);
int      StringLen(const string &string_value);
string   StringSubstr(const string &string_value, int start_pos, int length = -1);
// ---- Math (MQL5's MathMax/MathMin return the wider argument type)
template<class A, class B> auto MathMax(A a, B b) -> decltype(a + b);
template<class A, class B> auto MathMin(A a, B b) -> decltype(a + b);
bool     MathIsValidNumber(double number);
double   MathRound(double value);
double   MathAbs(double value);
double   MathFloor(double value);
double   MathCeil(double value);
double   NormalizeDouble(double value, int digits);
// ---- Global variables of the terminal
bool     GlobalVariableCheck(const string &name);
bool     GlobalVariableTemp(const string &name);
bool     GlobalVariableSetOnCondition(const string &name, double value, double check_value);
datetime GlobalVariableSet(const string &name, double value);
double   GlobalVariableGet(const string &name);
bool     GlobalVariableDel(const string &name);
int      GlobalVariablesTotal();
string   GlobalVariableName(int index);
void     GlobalVariablesFlush();
// ---- Market info
bool     SymbolExist(const string &name, bool &is_custom);
bool     SymbolSelect(const string &name, bool select);
double   SymbolInfoDouble(const string &name, ENUM_SYMBOL_INFO_DOUBLE prop_id);
long     SymbolInfoInteger(const string &name, ENUM_SYMBOL_INFO_INTEGER prop_id);
bool     SymbolInfoTick(const string &symbol, MqlTick &tick);
string   SymbolInfoString(const string &name, ENUM_SYMBOL_INFO_STRING prop_id);
int      SymbolsTotal(bool selected);
string   SymbolName(int pos, bool selected);
// ---- Timeseries
template<size_t N> int CopyRates(const string &symbol_name, ENUM_TIMEFRAMES timeframe, int start_pos, int count, MqlRates (&rates_array)[N]);
// ---- Trade functions
bool     OrderSend(MqlTradeRequest &request, MqlTradeResult &result);
bool     OrderCalcMargin(ENUM_ORDER_TYPE action, const string &symbol, double volume, double price, double &margin);
int      PositionsTotal();
ulong    PositionGetTicket(int index);
bool     PositionSelectByTicket(ulong ticket);
double   PositionGetDouble(ENUM_POSITION_PROPERTY_DOUBLE property_id);
long     PositionGetInteger(ENUM_POSITION_PROPERTY_INTEGER property_id);
string   PositionGetString(ENUM_POSITION_PROPERTY_STRING property_id);
bool     HistorySelect(datetime from_date, datetime to_date);
bool     HistorySelectByPosition(long position_id);
int      HistoryDealsTotal();
ulong    HistoryDealGetTicket(int index);
bool     HistoryDealSelect(ulong ticket);
double   HistoryDealGetDouble(ulong ticket_number, ENUM_DEAL_PROPERTY_DOUBLE property_id);
long     HistoryDealGetInteger(ulong ticket_number, ENUM_DEAL_PROPERTY_INTEGER property_id);
string   HistoryDealGetString(ulong ticket_number, ENUM_DEAL_PROPERTY_STRING property_id);
// ---- Pending orders (OrdersTotal, OrderGetTicket, OrderSelect, OrderGet* pages)
int      OrdersTotal();
ulong    OrderGetTicket(int index);
bool     OrderSelect(ulong ticket);
double   OrderGetDouble(ENUM_ORDER_PROPERTY_DOUBLE property_id);
long     OrderGetInteger(ENUM_ORDER_PROPERTY_INTEGER property_id);
string   OrderGetString(ENUM_ORDER_PROPERTY_STRING property_id);
int      HistoryOrdersTotal();
ulong    HistoryOrderGetTicket(int index);
double   HistoryOrderGetDouble(ulong ticket_number, ENUM_ORDER_PROPERTY_DOUBLE property_id);
long     HistoryOrderGetInteger(ulong ticket_number, ENUM_ORDER_PROPERTY_INTEGER property_id);
string   HistoryOrderGetString(ulong ticket_number, ENUM_ORDER_PROPERTY_STRING property_id);
// ---- Charts
long     ChartOpen(const string &symbol, ENUM_TIMEFRAMES period);
long     ChartID();
string   ChartSymbol(long chart_id = 0);
bool     ChartApplyTemplate(long chart_id, const string &filename);
string   ChartGetString(long chart_id, ENUM_CHART_PROPERTY_STRING prop_id);
// ---- Files (sandbox MQL5\Files)
int      FileOpen(const string &file_name, int open_flags, short delimiter = '\t', uint codepage = CP_ACP);
void     FileClose(int file_handle);
bool     FileIsExist(const string &file_name, int common_flag = 0);
uint     FileWriteString(int file_handle, const string &text_string, int length = -1);
// ---- Network
int      SocketCreate(uint flags = 0);
bool     SocketClose(const int socket);
bool     SocketConnect(int socket, const string &server, uint port, uint timeout_receive_ms);
bool     SocketIsConnected(const int socket);
bool     SocketTimeouts(int socket, uint timeout_send_ms, uint timeout_receive_ms);
uint     SocketIsReadable(const int socket);
template<size_t N> int SocketRead(int socket, uchar (&buffer)[N], uint buffer_maxlen, uint timeout_ms);
template<size_t N> int SocketSend(int socket, const uchar (&buffer)[N], uint buffer_len);
