//+------------------------------------------------------------------+
//|                                              CompanionBridge.mq5 |
//| Bridge between MetaTrader 5 and the Companion agent.             |
//|                                                                  |
//| Connects to the agent on loopback TCP (the agent listens; MQL5   |
//| sockets are client-only) and speaks the Companion bridge         |
//| protocol: newline-delimited JSON, see docs/bridge-protocol.md.   |
//|                                                                  |
//| Setup: Tools > Options > Expert Advisors: allow algorithmic      |
//| trading and add 127.0.0.1 to the allowed URL list. Attach this   |
//| EA to any one chart with the port and token the app shows.       |
//+------------------------------------------------------------------+
#property copyright "Companion"
#property version   "1.20"
#property description "Companion bridge: lets the Companion agent trade and manage EAs in this terminal."

#include <Trade\Trade.mqh>

//--- inputs
input string InpHost      = "127.0.0.1";   // Agent host (loopback)
input int    InpPort      = 17500;         // Agent bridge port
input string InpToken     = "";            // Bridge token (from the Companion app)
input int    InpDeviation = 20;            // Allowed slippage, points

//--- protocol constants
#define BRIDGE_PROTOCOL_VERSION 1   // 1.1 (EA 1.10): symbols, deals_since, account facts, filling
#define BRIDGE_MAX_LINE         4194304
#define BRIDGE_MAX_CANDLES      5000
#define BRIDGE_TIMER_MS         50
#define BRIDGE_READ_TIMEOUT_MS  10         // SocketRead wait when SocketIsReadable announced bytes
#define BRIDGE_SEND_TIMEOUT_MS  2000       // SocketTimeouts: a stalled agent cannot block the EA thread
#define BRIDGE_RECV_TIMEOUT_MS  10
#define BRIDGE_DEAL_TRIES       5          // reads of a fresh deal from the history (Sleep between)
#define BRIDGE_DEAL_WAIT_MS     100
#define BRIDGE_CHART_WAIT_MS    1000       // chart_deploy/run/stop: wait for CHART_EXPERT_NAME to change
#define BRIDGE_LOCK             "Companion.BridgeLock"   // terminal-wide: one bridge connects at a time
#define BRIDGE_ERR_SOCKET_IO    5273       // ERR_NETSOCKET_IO_ERROR: the connection is gone

//--- runtime error codes used on the wire (see the protocol doc)
#define RC_BAD_ARGS             4003
#define RC_UNKNOWN_COMMAND      65601      // the bridge's own code (user range), not MT5's 4014
#define RC_NO_QUOTE             10021      // TRADE_RETCODE_PRICE_OFF: no bid/ask for the symbol yet
#define RC_CHART_WRONG_ID       4101
#define RC_UNKNOWN_SYMBOL       4301
#define RC_POSITION_NOT_FOUND   4753

//--- connection state
#define ST_DISCONNECTED 0
#define ST_HELLO_SENT   1
#define ST_READY        2

int    g_socket        = INVALID_HANDLE;
int    g_state         = ST_DISCONNECTED;
uchar  g_rx[];                      // received bytes not yet split into lines
int    g_rx_len        = 0;
bool   g_discarding    = false;     // skipping an over-long line
ulong  g_last_rx_ms    = 0;         // last time anything arrived
ulong  g_last_tx_ms    = 0;         // last heartbeat sent
ulong  g_next_try_ms   = 0;         // next connection attempt
int    g_backoff_ms    = 500;
int    g_heartbeat_ms  = 5000;
int    g_last_connect_err = 0;      // last connect error printed (each distinct one once)
double g_lock_id       = 0.0;       // this instance's value of BRIDGE_LOCK (0 = not held)
bool   g_lock_reported = false;
CTrade g_trade;

void HandleLine(const string line);   // defined below, after the commands
string SrPositionField(const ulong ticket, const ulong identifier);   // breakeven/trailing, below

//+------------------------------------------------------------------+
//| Small JSON reader: flattens an object into path -> raw value     |
//| ("id", "cmd", "args.symbol", "args.symbols.0"). Strings are      |
//| unescaped; other values are kept as their literal text.          |
//+------------------------------------------------------------------+
class CJsonFlat
  {
private:
   string            m_text;
   int               m_pos;
   int               m_len;
   string            m_keys[];
   string            m_vals[];
   bool              m_isstr[];
   int               m_count;

   void              SkipWs(void)
     {
      while(m_pos < m_len)
        {
         ushort c = StringGetCharacter(m_text, m_pos);
         if(c == ' ' || c == '\t' || c == '\r' || c == '\n')
            m_pos++;
         else
            break;
        }
     }
   void              Add(const string key, const string val, const bool isstr)
     {
      if(m_count >= ArraySize(m_keys))
        {
         ArrayResize(m_keys, m_count + 16);
         ArrayResize(m_vals, m_count + 16);
         ArrayResize(m_isstr, m_count + 16);
        }
      m_keys[m_count] = key;
      m_vals[m_count] = val;
      m_isstr[m_count] = isstr;
      m_count++;
     }
   int               HexDigit(const ushort c)
     {
      if(c >= '0' && c <= '9') return (int)(c - '0');
      if(c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
      if(c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
      return -1;
     }
   bool              ParseString(string &out)
     {
      if(m_pos >= m_len || StringGetCharacter(m_text, m_pos) != '"')
         return false;
      m_pos++;
      out = "";
      int start = m_pos;
      while(m_pos < m_len)
        {
         ushort c = StringGetCharacter(m_text, m_pos);
         if(c == '"')
           {
            out += StringSubstr(m_text, start, m_pos - start);
            m_pos++;
            return true;
           }
         if(c == '\\')
           {
            out += StringSubstr(m_text, start, m_pos - start);
            m_pos++;
            if(m_pos >= m_len) return false;
            ushort e = StringGetCharacter(m_text, m_pos);
            if(e == 'n') out += "\n";
            else if(e == 'r') out += "\r";
            else if(e == 't') out += "\t";
            else if(e == 'b') out += ShortToString(8);
            else if(e == 'f') out += ShortToString(12);
            else if(e == 'u')
              {
               if(m_pos + 4 >= m_len) return false;
               int code = 0;
               for(int k = 1; k <= 4; k++)
                 {
                  int h = HexDigit(StringGetCharacter(m_text, m_pos + k));
                  if(h < 0) return false;
                  code = code * 16 + h;
                 }
               out += ShortToString((ushort)code);
               m_pos += 4;
              }
            else
               out += ShortToString(e);   // \" \\ \/
            m_pos++;
            start = m_pos;
            continue;
           }
         m_pos++;
        }
      return false;
     }
   bool              ParseValue(const string path, const int depth)
     {
      if(depth > 8) return false;
      SkipWs();
      if(m_pos >= m_len) return false;
      ushort c = StringGetCharacter(m_text, m_pos);
      if(c == '{')
        {
         m_pos++;
         SkipWs();
         if(m_pos < m_len && StringGetCharacter(m_text, m_pos) == '}') { m_pos++; return true; }
         while(m_pos < m_len)
           {
            SkipWs();
            string key;
            if(!ParseString(key)) return false;
            SkipWs();
            if(m_pos >= m_len || StringGetCharacter(m_text, m_pos) != ':') return false;
            m_pos++;
            string sub = (path == "") ? key : path + "." + key;
            if(!ParseValue(sub, depth + 1)) return false;
            SkipWs();
            if(m_pos >= m_len) return false;
            ushort d = StringGetCharacter(m_text, m_pos);
            m_pos++;
            if(d == '}') return true;
            if(d != ',') return false;
           }
         return false;
        }
      if(c == '[')
        {
         m_pos++;
         SkipWs();
         int idx = 0;
         if(m_pos < m_len && StringGetCharacter(m_text, m_pos) == ']') { m_pos++; Add(path + ".#", "0", false); return true; }
         while(m_pos < m_len)
           {
            if(!ParseValue(path + "." + IntegerToString(idx), depth + 1)) return false;
            idx++;
            SkipWs();
            if(m_pos >= m_len) return false;
            ushort d = StringGetCharacter(m_text, m_pos);
            m_pos++;
            if(d == ']') { Add(path + ".#", IntegerToString(idx), false); return true; }
            if(d != ',') return false;
           }
         return false;
        }
      if(c == '"')
        {
         string s;
         if(!ParseString(s)) return false;
         Add(path, s, true);
         return true;
        }
      // number, true, false, null: take the literal up to a delimiter
      int start = m_pos;
      while(m_pos < m_len)
        {
         ushort d = StringGetCharacter(m_text, m_pos);
         if(d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' || d == '\r' || d == '\n')
            break;
         m_pos++;
        }
      if(m_pos == start) return false;
      Add(path, StringSubstr(m_text, start, m_pos - start), false);
      return true;
     }

public:
                     CJsonFlat(void) { m_count = 0; }
   bool              Parse(const string text)
     {
      m_text = text;
      m_pos = 0;
      m_len = StringLen(text);
      m_count = 0;
      SkipWs();
      if(m_pos >= m_len || StringGetCharacter(m_text, m_pos) != '{') return false;
      return ParseValue("", 0);
     }
   int               Find(const string key)
     {
      for(int i = 0; i < m_count; i++)
         if(m_keys[i] == key) return i;
      return -1;
     }
   bool              Has(const string key) { return Find(key) >= 0; }
   string            Str(const string key, const string def = "")
     {
      int i = Find(key);
      return (i < 0) ? def : m_vals[i];
     }
   long              Long(const string key, const long def = 0)
     {
      int i = Find(key);
      if(i < 0 || m_vals[i] == "null") return def;
      return StringToInteger(m_vals[i]);
     }
   double            Dbl(const string key, const double def = 0.0)
     {
      int i = Find(key);
      if(i < 0 || m_vals[i] == "null") return def;
      return StringToDouble(m_vals[i]);
     }
   bool              Bool(const string key, const bool def = false)
     {
      int i = Find(key);
      if(i < 0) return def;
      return m_vals[i] == "true";
     }
  };

//+------------------------------------------------------------------+
//| JSON writing helpers                                             |
//+------------------------------------------------------------------+
string JStr(const string s)
  {
   string out = "\"";
   int n = StringLen(s);
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c == '"') out += "\\\"";
      else if(c == '\\') out += "\\\\";
      else if(c == '\n') out += "\\n";
      else if(c == '\r') out += "\\r";
      else if(c == '\t') out += "\\t";
      else if(c < 32) out += StringFormat("\\u%04x", c);
      else out += ShortToString(c);
     }
   return out + "\"";
  }

string JNum(const double v, const int digits = 8)
  {
   if(!MathIsValidNumber(v)) return "0";
   return DoubleToString(v, digits);
  }

string JInt(const long v)   { return IntegerToString(v); }
string JULong(const ulong v) { return StringFormat("%I64u", v); }
string JBool(const bool v)  { return v ? "true" : "false"; }

//+------------------------------------------------------------------+
//| Broker facts (protocol 1.1): account kind and margin mode,       |
//| symbol trade mode and filling policies, the order's filling.     |
//+------------------------------------------------------------------+
//--- the fields the hello's "terminal" and `info` add: ,"margin_mode":…,"account_kind":…,"gmt_offset_secs":…
string AccountFactsJson(void)
  {
   long mm = AccountInfoInteger(ACCOUNT_MARGIN_MODE);
   string margin = "hedging";
   if(mm == ACCOUNT_MARGIN_MODE_RETAIL_NETTING) margin = "netting";
   else if(mm == ACCOUNT_MARGIN_MODE_EXCHANGE) margin = "exchange";
   long tm = AccountInfoInteger(ACCOUNT_TRADE_MODE);
   string kind = "real";
   if(tm == ACCOUNT_TRADE_MODE_DEMO) kind = "demo";
   else if(tm == ACCOUNT_TRADE_MODE_CONTEST) kind = "contest";
   // TimeTradeServer() runs on between ticks (TimeCurrent() stops at the last quote);
   // offsets are whole quarter hours.
   long offset = (long)MathRound((double)(TimeTradeServer() - TimeGMT()) / 900.0) * 900;
   return ",\"margin_mode\":" + JStr(margin) + ",\"account_kind\":" + JStr(kind)
          + ",\"gmt_offset_secs\":" + JInt(offset);
  }

string TradeModeName(const long mode)
  {
   if(mode == SYMBOL_TRADE_MODE_DISABLED) return "disabled";
   if(mode == SYMBOL_TRADE_MODE_LONGONLY) return "long_only";
   if(mode == SYMBOL_TRADE_MODE_SHORTONLY) return "short_only";
   if(mode == SYMBOL_TRADE_MODE_CLOSEONLY) return "close_only";
   return "full";
  }

//--- the filling policies the symbol allows, as a JSON list: FOK and IOC from
//--- SYMBOL_FILLING_MODE; RETURN with Market or Exchange execution (MQL5 reference)
string FillingModesJson(const string symbol)
  {
   long fm = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
   long exe = SymbolInfoInteger(symbol, SYMBOL_TRADE_EXEMODE);
   string items = "";
   if((fm & SYMBOL_FILLING_FOK) == SYMBOL_FILLING_FOK) items = "\"fok\"";
   if((fm & SYMBOL_FILLING_IOC) == SYMBOL_FILLING_IOC)
     {
      if(items != "") items += ",";
      items += "\"ioc\"";
     }
   if(exe == SYMBOL_TRADE_EXECUTION_MARKET || exe == SYMBOL_TRADE_EXECUTION_EXCHANGE)
     {
      if(items != "") items += ",";
      items += "\"return\"";
     }
   return "[" + items + "]";
  }

//--- ,"margin_per_lot":… (one lot bought at the ask, account currency); empty when MT5 cannot say
string MarginPerLotJson(const string symbol)
  {
   double margin = 0.0;
   double ask = SymbolInfoDouble(symbol, SYMBOL_ASK);
   if(ask <= 0.0 || !OrderCalcMargin(ORDER_TYPE_BUY, symbol, 1.0, ask, margin) || margin <= 0.0)
      return "";
   return ",\"margin_per_lot\":" + JNum(margin, 2);
  }

//--- the fields symbol_info adds: ,"trade_mode":…,"filling_modes":[…],"stops_level":…,"currency_profit":…,"margin_per_lot":…
string SymbolFactsJson(const string symbol)
  {
   return ",\"trade_mode\":" + JStr(TradeModeName(SymbolInfoInteger(symbol, SYMBOL_TRADE_MODE)))
          + ",\"filling_modes\":" + FillingModesJson(symbol)
          + ",\"stops_level\":" + JInt(SymbolInfoInteger(symbol, SYMBOL_TRADE_STOPS_LEVEL))
          + ",\"currency_profit\":" + JStr(SymbolInfoString(symbol, SYMBOL_CURRENCY_PROFIT))
          + MarginPerLotJson(symbol);
  }


//--- order_send's `filling` (fok, ioc, return) into g_trade; false for another value
bool ApplyFilling(const string filling)
  {
   if(filling == "fok")    { g_trade.SetTypeFilling(ORDER_FILLING_FOK);    return true; }
   if(filling == "ioc")    { g_trade.SetTypeFilling(ORDER_FILLING_IOC);    return true; }
   if(filling == "return") { g_trade.SetTypeFilling(ORDER_FILLING_RETURN); return true; }
   return false;
  }

//+------------------------------------------------------------------+
//| Socket I/O                                                       |
//+------------------------------------------------------------------+
void CloseSocket(const string why)
  {
   if(g_socket != INVALID_HANDLE)
     {
      SocketClose(g_socket);
      PrintFormat("Companion bridge: disconnected (%s)", why);
     }
   g_socket = INVALID_HANDLE;
   g_state = ST_DISCONNECTED;
   g_rx_len = 0;
   g_discarding = false;
   g_next_try_ms = GetTickCount64() + (ulong)g_backoff_ms;
   g_backoff_ms = MathMin(g_backoff_ms * 2, 5000);
  }

bool SendLine(const string line)
  {
   if(g_socket == INVALID_HANDLE) return false;
   uchar buf[];
   int n = StringToCharArray(line + "\n", buf, 0, WHOLE_ARRAY, CP_UTF8) - 1; // drop the trailing 0
   if(n <= 0) return false;
   int sent = 0;
   while(sent < n)
     {
      uchar part[];
      ArrayCopy(part, buf, 0, sent, n - sent);
      int r = SocketSend(g_socket, part, (uint)(n - sent));
      if(r <= 0)
        {
         CloseSocket("send failed, error " + IntegerToString(GetLastError()));
         return false;
        }
      sent += r;
     }
   return true;
  }

void SendHeartbeat(void)
  {
   SendLine("{\"type\":\"heartbeat\",\"time\":" + JInt((long)TimeCurrent()) + "}");
   g_last_tx_ms = GetTickCount64();
  }

//--- terminal-wide lock: two bridges (two charts) would replace each other's connection
bool TakeBridgeLock(void)
  {
   if(g_lock_id != 0.0) return true;
   if(!GlobalVariableCheck(BRIDGE_LOCK))
      GlobalVariableTemp(BRIDGE_LOCK);       // temporary: gone when the terminal exits
   double mine = (double)(GetMicrosecondCount() % 4503599627370496) + 1.0;
   if(GlobalVariableSetOnCondition(BRIDGE_LOCK, mine, 0.0))
     {
      g_lock_id = mine;
      g_lock_reported = false;
      return true;
     }
   if(!g_lock_reported)
     {
      Print("Companion bridge: another Companion bridge is already running in this terminal; this one does not connect. Remove one of them (only one chart needs the bridge).");
      g_lock_reported = true;
     }
   return false;
  }

void ReleaseBridgeLock(void)
  {
   if(g_lock_id != 0.0)
      GlobalVariableSetOnCondition(BRIDGE_LOCK, 0.0, g_lock_id);
   g_lock_id = 0.0;
  }

void TryConnect(void)
  {
   if(GetTickCount64() < g_next_try_ms) return;
   if(!TakeBridgeLock())
     {
      g_next_try_ms = GetTickCount64() + 5000;
      return;
     }
   g_socket = SocketCreate();
   if(g_socket == INVALID_HANDLE)
     {
      g_next_try_ms = GetTickCount64() + 5000;
      PrintFormat("Companion bridge: SocketCreate failed, error %d", GetLastError());
      return;
     }
   if(!SocketConnect(g_socket, InpHost, (uint)InpPort, 1000))
     {
      int err = GetLastError();
      SocketClose(g_socket);
      g_socket = INVALID_HANDLE;
      g_next_try_ms = GetTickCount64() + (ulong)g_backoff_ms;
      g_backoff_ms = MathMin(g_backoff_ms * 2, 5000);
      if(err != g_last_connect_err)   // each distinct error once, not every retry
        {
         PrintFormat("Companion bridge: cannot connect to %s:%d (error %d). Is the Companion agent running with this port? Allow %s in Tools > Options > Expert Advisors > Allow WebRequest for listed URL, and turn on Algo Trading.",
                     InpHost, InpPort, err, InpHost);
         g_last_connect_err = err;
        }
      return;
     }
   g_last_connect_err = 0;
   // A stalled agent must not block the EA thread on send (reads never wait long).
   if(!SocketTimeouts(g_socket, BRIDGE_SEND_TIMEOUT_MS, BRIDGE_RECV_TIMEOUT_MS))
      PrintFormat("Companion bridge: SocketTimeouts failed, error %d", GetLastError());
   g_state = ST_HELLO_SENT;
   g_rx_len = 0;
   g_last_rx_ms = GetTickCount64();
   string hello = "{\"type\":\"hello\",\"token\":" + JStr(InpToken)
                  + ",\"protocol_version\":" + IntegerToString(BRIDGE_PROTOCOL_VERSION)
                  + ",\"terminal\":{\"login\":" + JStr(IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN)))
                  + ",\"server\":" + JStr(AccountInfoString(ACCOUNT_SERVER))
                  + ",\"company\":" + JStr(AccountInfoString(ACCOUNT_COMPANY))
                  + ",\"build\":" + JInt(TerminalInfoInteger(TERMINAL_BUILD))
                  + ",\"paper\":false" + AccountFactsJson() + "}}";
   SendLine(hello);
  }

//--- reads whatever is available and handles complete lines
void PumpSocket(void)
  {
   if(g_socket == INVALID_HANDLE) return;
   if(!SocketIsConnected(g_socket))
     {
      CloseSocket("connection lost");
      return;
     }
   uint avail = SocketIsReadable(g_socket);
   if(avail > 0)
     {
      uchar chunk[];
      ResetLastError();
      int r = SocketRead(g_socket, chunk, avail, BRIDGE_READ_TIMEOUT_MS);
      if(r < 0)
        {
         // SocketIsReadable may announce a byte speculatively; the read then times out.
         // Only a real disconnect closes the connection.
         int err = GetLastError();
         if(err == BRIDGE_ERR_SOCKET_IO || !SocketIsConnected(g_socket))
           {
            CloseSocket("read failed, error " + IntegerToString(err));
            return;
           }
         r = 0;
        }
      if(r > 0)
        {
         g_last_rx_ms = GetTickCount64();
         if(ArraySize(g_rx) < g_rx_len + r) ArrayResize(g_rx, g_rx_len + r + 4096);
         ArrayCopy(g_rx, chunk, g_rx_len, 0, r);
         g_rx_len += r;
        }
     }
   // split complete lines
   int start = 0;
   for(int i = 0; i < g_rx_len && g_socket != INVALID_HANDLE; i++)
     {
      if(g_rx[i] != 10) continue;
      int len = i - start;
      if(!g_discarding && len > 0)
        {
         string line = CharArrayToString(g_rx, start, len, CP_UTF8);
         HandleLine(line);
        }
      g_discarding = false;
      start = i + 1;
     }
   if(g_socket == INVALID_HANDLE) return;
   if(start > 0)
     {
      int rest = g_rx_len - start;
      if(rest > 0)
        {
         uchar tail[];
         ArrayCopy(tail, g_rx, 0, start, rest);
         ArrayCopy(g_rx, tail, 0, 0, rest);
        }
      g_rx_len = rest;
     }
   if(g_rx_len > BRIDGE_MAX_LINE)
     {
      g_discarding = true;   // skip the rest of this over-long line
      g_rx_len = 0;
     }
  }

//+------------------------------------------------------------------+
//| Replies                                                          |
//+------------------------------------------------------------------+
void ReplyOk(const long id, const string result_json)
  {
   SendLine("{\"id\":" + JInt(id) + ",\"ok\":true,\"result\":" + result_json + "}");
  }

void ReplyErr(const long id, const long retcode, const string message)
  {
   SendLine("{\"id\":" + JInt(id) + ",\"ok\":false,\"error\":{\"retcode\":" + JInt(retcode)
            + ",\"message\":" + JStr(message) + "}}");
  }

//+------------------------------------------------------------------+
//| Helpers                                                          |
//+------------------------------------------------------------------+
bool ParseTimeframe(const string s, ENUM_TIMEFRAMES &tf)
  {
   if(s == "M1")  { tf = PERIOD_M1;  return true; }
   if(s == "M5")  { tf = PERIOD_M5;  return true; }
   if(s == "M15") { tf = PERIOD_M15; return true; }
   if(s == "M30") { tf = PERIOD_M30; return true; }
   if(s == "H1")  { tf = PERIOD_H1;  return true; }
   if(s == "H4")  { tf = PERIOD_H4;  return true; }
   if(s == "D1")  { tf = PERIOD_D1;  return true; }
   if(s == "W1")  { tf = PERIOD_W1;  return true; }
   if(s == "MN1") { tf = PERIOD_MN1; return true; }
   return false;
  }

bool SymbolKnown(const string symbol)
  {
   bool custom = false;
   if(symbol == "" || !SymbolExist(symbol, custom)) return false;
   return SymbolSelect(symbol, true);
  }

int SymbolDigits(const string symbol)
  {
   return (int)SymbolInfoInteger(symbol, SYMBOL_DIGITS);
  }

//--- volumes with enough decimals for any volume step (0.001, 0.0001 lots)
string JVol(const double v)
  {
   return JNum(v, 8);
  }

//--- a price rounded to the symbol's tick size, then to its digits (0 stays 0 = none)
double NormalizePrice(const string symbol, const double price)
  {
   if(price == 0.0) return 0.0;
   double tick = SymbolInfoDouble(symbol, SYMBOL_TRADE_TICK_SIZE);
   double p = price;
   if(tick > 0.0) p = MathRound(p / tick) * tick;
   return NormalizeDouble(p, SymbolDigits(symbol));
  }

//--- bid/ask of a symbol; a just-selected symbol may have none yet: retry briefly
bool FreshTick(const string symbol, MqlTick &tick)
  {
   for(int i = 0; i < 5; i++)
     {
      ZeroMemory(tick);
      if(SymbolInfoTick(symbol, tick) && tick.bid > 0.0 && tick.ask > 0.0) return true;
      SymbolSelect(symbol, true);
      Sleep(50);
     }
   return false;
  }

//--- the deal of a trade that just returned: it may not be in the history yet, so a
//--- few tries; false = unknown (the reply says so instead of reporting wrong numbers)
bool ReadDeal(const ulong deal, double &price, double &volume, ulong &position, double &costs, double &profit)
  {
   if(deal == 0) return false;
   for(int i = 0; i < BRIDGE_DEAL_TRIES; i++)
     {
      if(HistoryDealSelect(deal))
        {
         price = HistoryDealGetDouble(deal, DEAL_PRICE);
         volume = HistoryDealGetDouble(deal, DEAL_VOLUME);
         position = (ulong)HistoryDealGetInteger(deal, DEAL_POSITION_ID);
         costs = HistoryDealGetDouble(deal, DEAL_COMMISSION) + HistoryDealGetDouble(deal, DEAL_FEE);
         profit = HistoryDealGetDouble(deal, DEAL_PROFIT) + HistoryDealGetDouble(deal, DEAL_SWAP);
         return true;
        }
      Sleep(BRIDGE_DEAL_WAIT_MS);
     }
   return false;
  }

//--- selects an open position by its ticket or, failing that, by its identifier
bool SelectPosition(const ulong ticket_or_id)
  {
   if(PositionSelectByTicket(ticket_or_id)) return true;
   int open_count = PositionsTotal();
   for(int i = 0; i < open_count; i++)
     {
      ulong t = PositionGetTicket(i);
      if(t != 0 && (ulong)PositionGetInteger(POSITION_IDENTIFIER) == ticket_or_id)
         return true;
     }
   return false;
  }

ENUM_ORDER_TYPE_FILLING FillingFor(const string symbol)
  {
   // Request and Instant execution fill market orders all-or-nothing (verify on a real terminal).
   long em = SymbolInfoInteger(symbol, SYMBOL_TRADE_EXEMODE);
   if(em == SYMBOL_TRADE_EXECUTION_REQUEST || em == SYMBOL_TRADE_EXECUTION_INSTANT) return ORDER_FILLING_FOK;
   long fm = SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
   if((fm & SYMBOL_FILLING_FOK) == SYMBOL_FILLING_FOK) return ORDER_FILLING_FOK;
   if((fm & SYMBOL_FILLING_IOC) == SYMBOL_FILLING_IOC) return ORDER_FILLING_IOC;
   return ORDER_FILLING_RETURN;
  }

bool TradingAllowed(void)
  {
   return TerminalInfoInteger(TERMINAL_TRADE_ALLOWED) && MQLInfoInteger(MQL_TRADE_ALLOWED);
  }

//--- the selected position as JSON (call after PositionGetTicket / PositionSelectByTicket)
string SelectedPositionJson(void)
  {
   string sym = PositionGetString(POSITION_SYMBOL);
   int dg = SymbolDigits(sym);
   bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   return "{\"ticket\":" + JULong((ulong)PositionGetInteger(POSITION_TICKET))
          + ",\"identifier\":" + JULong((ulong)PositionGetInteger(POSITION_IDENTIFIER))
          + ",\"symbol\":" + JStr(sym)
          + ",\"side\":" + JStr(buy ? "buy" : "sell")
          + ",\"volume\":" + JVol(PositionGetDouble(POSITION_VOLUME))
          + ",\"price_open\":" + JNum(PositionGetDouble(POSITION_PRICE_OPEN), dg)
          + ",\"price_current\":" + JNum(PositionGetDouble(POSITION_PRICE_CURRENT), dg)
          + ",\"sl\":" + JNum(PositionGetDouble(POSITION_SL), dg)
          + ",\"tp\":" + JNum(PositionGetDouble(POSITION_TP), dg)
          + ",\"profit\":" + JNum(PositionGetDouble(POSITION_PROFIT), 2)
          + ",\"swap\":" + JNum(PositionGetDouble(POSITION_SWAP), 2)
          + ",\"comment\":" + JStr(PositionGetString(POSITION_COMMENT))
          + ",\"magic\":" + JInt(PositionGetInteger(POSITION_MAGIC))
          + ",\"time\":" + JInt(PositionGetInteger(POSITION_TIME))
          + SrPositionField((ulong)PositionGetInteger(POSITION_TICKET), (ulong)PositionGetInteger(POSITION_IDENTIFIER)) + "}";
  }

string TemplateFile(const long chart_id, const bool with_expert)
  {
   return "Companion\\" + (with_expert ? "chart_" : "empty_") + IntegerToString(chart_id) + ".tpl";
  }

bool WriteTextFile(const string path, const string text)
  {
   int h = FileOpen(path, FILE_WRITE | FILE_TXT | FILE_UNICODE);
   if(h == INVALID_HANDLE) return false;
   FileWriteString(h, text);
   FileClose(h);
   return true;
  }

//--- a template without an expert for the chart (used by chart_stop)
string EmptyTemplate(const long chart_id)
  {
   string sym = ChartSymbol(chart_id);
   return "<chart>\nsymbol=" + sym + "\nmode=1\nshift=1\nshow_ask=1\n"
          + "<window>\nheight=100.000000\nobjects=0\n<indicator>\nname=Main\npath=\napply=1\nshow_data=1\n"
          + "expertmode=0\nfixed_height=-1\n</indicator>\n</window>\n</chart>\n";
  }

//+------------------------------------------------------------------+
//| Commands                                                         |
//+------------------------------------------------------------------+
void CmdInfo(const long id)
  {
   ReplyOk(id, "{\"login\":" + JStr(IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN)))
           + ",\"server\":" + JStr(AccountInfoString(ACCOUNT_SERVER))
           + ",\"company\":" + JStr(AccountInfoString(ACCOUNT_COMPANY))
           + ",\"name\":" + JStr(TerminalInfoString(TERMINAL_NAME))
           + ",\"build\":" + JInt(TerminalInfoInteger(TERMINAL_BUILD))
           + ",\"paper\":false"
           + ",\"connected\":" + JBool((bool)TerminalInfoInteger(TERMINAL_CONNECTED))
           + ",\"trade_allowed\":" + JBool(TradingAllowed()) + AccountFactsJson() + "}");
  }

void CmdAccount(const long id)
  {
   ReplyOk(id, "{\"balance\":" + JNum(AccountInfoDouble(ACCOUNT_BALANCE), 2)
           + ",\"equity\":" + JNum(AccountInfoDouble(ACCOUNT_EQUITY), 2)
           + ",\"margin\":" + JNum(AccountInfoDouble(ACCOUNT_MARGIN), 2)
           + ",\"margin_free\":" + JNum(AccountInfoDouble(ACCOUNT_MARGIN_FREE), 2)
           + ",\"currency\":" + JStr(AccountInfoString(ACCOUNT_CURRENCY))
           + ",\"leverage\":" + JInt(AccountInfoInteger(ACCOUNT_LEVERAGE))
           + ",\"login\":" + JStr(IntegerToString(AccountInfoInteger(ACCOUNT_LOGIN))) + "}");
  }

void CmdPositions(const long id)
  {
   string items = "";
   int total = PositionsTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0) continue;
      if(items != "") items += ",";
      items += SelectedPositionJson();
     }
   ReplyOk(id, "{\"positions\":[" + items + "]}");
  }

void CmdSymbolInfo(const long id, CJsonFlat &req)
  {
   string sym = req.Str("args.symbol");
   if(!SymbolKnown(sym)) { ReplyErr(id, RC_UNKNOWN_SYMBOL, "unknown symbol " + sym); return; }
   int dg = SymbolDigits(sym);
   MqlTick tick;
   if(!FreshTick(sym, tick)) { ReplyErr(id, RC_NO_QUOTE, "no bid/ask for " + sym + " yet (market closed, or the symbol was just selected); try again"); return; }
   ReplyOk(id, "{\"symbol\":" + JStr(sym)
           + ",\"digits\":" + JInt(dg)
           + ",\"point\":" + JNum(SymbolInfoDouble(sym, SYMBOL_POINT), dg + 1)
           + ",\"contract_size\":" + JNum(SymbolInfoDouble(sym, SYMBOL_TRADE_CONTRACT_SIZE), 2)
           + ",\"tick_size\":" + JNum(SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE), dg + 1)
           + ",\"tick_value\":" + JNum(SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_VALUE), 8)
           + ",\"volume_min\":" + JVol(SymbolInfoDouble(sym, SYMBOL_VOLUME_MIN))
           + ",\"volume_max\":" + JVol(SymbolInfoDouble(sym, SYMBOL_VOLUME_MAX))
           + ",\"volume_step\":" + JVol(SymbolInfoDouble(sym, SYMBOL_VOLUME_STEP))
           + ",\"bid\":" + JNum(tick.bid, dg)
           + ",\"ask\":" + JNum(tick.ask, dg) + SymbolFactsJson(sym) + "}");
  }

void CmdQuotes(const long id, CJsonFlat &req)
  {
   int n = (int)req.Long("args.symbols.#", 0);
   string items = "";
   for(int i = 0; i < n; i++)
     {
      string sym = req.Str("args.symbols." + IntegerToString(i));
      if(!SymbolKnown(sym)) continue;
      MqlTick tick;
      if(!SymbolInfoTick(sym, tick)) continue;
      int dg = SymbolDigits(sym);
      if(items != "") items += ",";
      items += "{\"symbol\":" + JStr(sym) + ",\"bid\":" + JNum(tick.bid, dg) + ",\"ask\":" + JNum(tick.ask, dg)
               + ",\"time\":" + JInt((long)tick.time) + "}";
     }
   ReplyOk(id, "{\"quotes\":[" + items + "]}");
  }

void CmdCandles(const long id, CJsonFlat &req)
  {
   string sym = req.Str("args.symbol");
   ENUM_TIMEFRAMES tf;
   if(!ParseTimeframe(req.Str("args.timeframe"), tf)) { ReplyErr(id, RC_BAD_ARGS, "unknown timeframe"); return; }
   if(!SymbolKnown(sym)) { ReplyErr(id, RC_UNKNOWN_SYMBOL, "unknown symbol " + sym); return; }
   int count = (int)MathMax(1, MathMin(req.Long("args.count", 100), BRIDGE_MAX_CANDLES));
   MqlRates rates[];
   ArraySetAsSeries(rates, false);
   int got = CopyRates(sym, tf, 0, count, rates);   // oldest first
   if(got < 0) { ReplyErr(id, GetLastError(), "CopyRates failed (history still loading?)"); return; }
   int dg = SymbolDigits(sym);
   string items = "";
   for(int i = 0; i < got; i++)
     {
      if(i > 0) items += ",";
      items += "{\"time\":" + JInt((long)rates[i].time)
               + ",\"open\":" + JNum(rates[i].open, dg)
               + ",\"high\":" + JNum(rates[i].high, dg)
               + ",\"low\":" + JNum(rates[i].low, dg)
               + ",\"close\":" + JNum(rates[i].close, dg)
               + ",\"volume\":" + JInt((long)rates[i].tick_volume) + "}";
     }
   ReplyOk(id, "{\"candles\":[" + items + "]}");
  }

// The filling policy of the next CTrade request: `filling` (fok, ioc, return), or
// chosen by symbol when empty. False for an unknown policy.
bool ChooseFilling(const string sym, const string filling)
  {
   if(filling != "") return ApplyFilling(filling);
   bool by_symbol = g_trade.SetTypeFillingBySymbol(sym);
   if(!by_symbol)
      g_trade.SetTypeFilling(FillingFor(sym));   // neither FOK nor IOC allowed: return/exchange rules
   return true;
  }

void CmdOrderSend(const long id, CJsonFlat &req)
  {
   string sym = req.Str("args.symbol");
   string side = req.Str("args.side");
   double volume = req.Dbl("args.volume");
   double sl = req.Dbl("args.sl");
   double tp = req.Dbl("args.tp");
   string comment = req.Str("args.comment");
   long magic = req.Long("args.magic");
   long deviation = req.Long("args.deviation", InpDeviation);
   if(side != "buy" && side != "sell") { ReplyErr(id, TRADE_RETCODE_INVALID, "side must be buy or sell"); return; }
   if(!SymbolKnown(sym)) { ReplyErr(id, RC_UNKNOWN_SYMBOL, "unknown symbol " + sym); return; }
   if(!TradingAllowed()) { ReplyErr(id, TRADE_RETCODE_CLIENT_DISABLES_AT, "algorithmic trading is disabled in the terminal"); return; }
   // CTrade would drop stops the symbol does not accept with the order: refuse instead.
   long order_mode = SymbolInfoInteger(sym, SYMBOL_ORDER_MODE);
   if(sl != 0.0 && (order_mode & SYMBOL_ORDER_SL) == 0) { ReplyErr(id, TRADE_RETCODE_INVALID_STOPS, sym + " does not accept a stop loss with the order (SYMBOL_ORDER_MODE); not sent"); return; }
   if(tp != 0.0 && (order_mode & SYMBOL_ORDER_TP) == 0) { ReplyErr(id, TRADE_RETCODE_INVALID_STOPS, sym + " does not accept a take profit with the order (SYMBOL_ORDER_MODE); not sent"); return; }
   sl = NormalizePrice(sym, sl);
   tp = NormalizePrice(sym, tp);
   MqlTick tick;
   if(!FreshTick(sym, tick)) { ReplyErr(id, RC_NO_QUOTE, "no bid/ask for " + sym + " yet (market closed, or the symbol was just selected); not sent"); return; }
   g_trade.SetExpertMagicNumber((ulong)magic);
   g_trade.SetDeviationInPoints((ulong)deviation);
   if(!ChooseFilling(sym, req.Str("args.filling"))) { ReplyErr(id, RC_BAD_ARGS, "filling must be fok, ioc or return"); return; }   // absent: chosen by symbol
   bool sent = (side == "buy") ? g_trade.Buy(volume, sym, 0.0, sl, tp, comment)
                               : g_trade.Sell(volume, sym, 0.0, sl, tp, comment);
   uint rc = g_trade.ResultRetcode();
   if(!sent || (rc != TRADE_RETCODE_DONE && rc != TRADE_RETCODE_DONE_PARTIAL && rc != TRADE_RETCODE_PLACED))
     {
      long code = (rc != 0) ? (long)rc : (long)GetLastError();
      ReplyErr(id, code, g_trade.ResultRetcodeDescription() + " " + g_trade.ResultComment());
      return;
     }
   ulong order = g_trade.ResultOrder();
   ulong deal = g_trade.ResultDeal();
   // The deal may not be in the history yet: unknown values are null, never guesses
   // (not the order ticket as position, not ResultPrice() 0 of a placed order).
   double price = 0.0, dvol = 0.0, costs = 0.0, dprofit = 0.0;
   ulong position = 0;
   bool known = ReadDeal(deal, price, dvol, position, costs, dprofit);
   int dg = SymbolDigits(sym);
   double rvol = g_trade.ResultVolume();
   ReplyOk(id, "{\"retcode\":" + JInt(rc)
           + ",\"order\":" + JULong(order)
           + ",\"deal\":" + JULong(deal)
           + ",\"deal_known\":" + JBool(known)
           + ",\"position\":" + (known ? JULong(position) : "null")
           + ",\"price\":" + (known ? JNum(price, dg) : "null")
           + ",\"volume\":" + (known ? JVol(dvol) : (rvol > 0.0 ? JVol(rvol) : "null"))
           + ",\"commission\":" + (known ? JNum(costs, 2) : "null") + "}");
  }

void CmdPositionClose(const long id, CJsonFlat &req)
  {
   ulong ticket = (ulong)req.Long("args.ticket");
   string comment = req.Str("args.comment");
   long deviation = req.Long("args.deviation", InpDeviation);
   if(!SelectPosition(ticket))   // a ticket, or a position identifier
     {
      // Closed already?
      if(HistorySelectByPosition(ticket) && HistoryDealsTotal() > 1)
         ReplyErr(id, TRADE_RETCODE_POSITION_CLOSED, "position already closed");
      else
         ReplyErr(id, RC_POSITION_NOT_FOUND, "position not found");
      return;
     }
   if(!TradingAllowed()) { ReplyErr(id, TRADE_RETCODE_CLIENT_DISABLES_AT, "algorithmic trading is disabled in the terminal"); return; }
   ticket = (ulong)PositionGetInteger(POSITION_TICKET);
   string sym = PositionGetString(POSITION_SYMBOL);
   bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   MqlTick tick;
   if(!FreshTick(sym, tick)) { ReplyErr(id, RC_NO_QUOTE, "no bid/ask for " + sym + " yet (market closed?); not closed"); return; }
   MqlTradeRequest rq;
   MqlTradeResult rs;
   ZeroMemory(rq);
   ZeroMemory(rs);
   rq.action = TRADE_ACTION_DEAL;
   rq.position = ticket;
   rq.symbol = sym;
   double pos_volume = PositionGetDouble(POSITION_VOLUME);
   double part = req.Dbl("args.volume");   // partial close (0 or absent: the whole position)
   if(part < 0.0 || part > pos_volume + 1e-9) { ReplyErr(id, TRADE_RETCODE_INVALID_VOLUME, "volume must be above 0 and at most the position's"); return; }
   rq.volume = (part > 0.0) ? part : pos_volume;
   rq.type = buy ? ORDER_TYPE_SELL : ORDER_TYPE_BUY;
   rq.price = buy ? tick.bid : tick.ask;
   rq.deviation = (ulong)deviation;
   rq.magic = (ulong)PositionGetInteger(POSITION_MAGIC);
   rq.comment = comment;
   rq.type_filling = FillingFor(sym);
   bool sent = OrderSend(rq, rs);
   if(!sent || (rs.retcode != TRADE_RETCODE_DONE && rs.retcode != TRADE_RETCODE_DONE_PARTIAL && rs.retcode != TRADE_RETCODE_PLACED))
     {
      long code = (rs.retcode != 0) ? (long)rs.retcode : (long)GetLastError();
      ReplyErr(id, code, "close failed: " + rs.comment);
      return;
     }
   // Unknown (deal not in the history yet) is null, never a profit of 0 as if real.
   double price = 0.0, dvol = 0.0, costs = 0.0, dprofit = 0.0;
   ulong position = 0;
   bool known = ReadDeal(rs.deal, price, dvol, position, costs, dprofit);
   int dg = SymbolDigits(sym);
   string price_json = known ? JNum(price, dg) : (rs.price > 0.0 ? JNum(rs.price, dg) : "null");
   ReplyOk(id, "{\"ticket\":" + JULong(ticket)
           + ",\"deal\":" + JULong(rs.deal)
           + ",\"deal_known\":" + JBool(known)
           + ",\"price\":" + price_json
           + ",\"profit\":" + (known ? JNum(dprofit + costs, 2) : "null")
           + ",\"commission\":" + (known ? JNum(costs, 2) : "null") + "}");
  }

string DealEntryName(const long entry)
  {
   if(entry == DEAL_ENTRY_IN) return "in";
   if(entry == DEAL_ENTRY_OUT) return "out";
   if(entry == DEAL_ENTRY_INOUT) return "inout";
   return "out_by";
  }

string OrderStateName(const long state)
  {
   switch((int)state)
     {
      case ORDER_STATE_FILLED:   return "filled";
      case ORDER_STATE_REJECTED: return "rejected";
      case ORDER_STATE_CANCELED: return "canceled";
      case ORDER_STATE_EXPIRED:  return "expired";
      case ORDER_STATE_PARTIAL:  return "partial";
      case ORDER_STATE_PLACED:   return "placed";
      case ORDER_STATE_STARTED:  return "started";
     }
   return "other";
  }

//--- A comment matches a `history_by_comment` query when it equals it or starts
//--- with it and a space (a job tag followed by the trader's note).
bool CommentMatches(const string c, const string q)
  {
   if(c == q) return true;
   int n = StringLen(q);
   return StringLen(c) > n && StringSubstr(c, 0, n) == q && StringGetCharacter(c, n) == ' ';
  }

void CmdHistoryByComment(const long id, CJsonFlat &req)
  {
   string comment = req.Str("args.comment");
   datetime from = (datetime)req.Long("args.from", 0);
   if(comment == "") { ReplyErr(id, RC_BAD_ARGS, "comment is required"); return; }
   if(!HistorySelect(from, TimeCurrent() + 86400)) { ReplyErr(id, GetLastError(), "HistorySelect failed"); return; }
   string deals = "";
   int nd = HistoryDealsTotal();
   for(int i = 0; i < nd; i++)
     {
      ulong d = HistoryDealGetTicket(i);
      if(d == 0 || !CommentMatches(HistoryDealGetString(d, DEAL_COMMENT), comment)) continue;
      string sym = HistoryDealGetString(d, DEAL_SYMBOL);
      long type = HistoryDealGetInteger(d, DEAL_TYPE);
      if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) continue;
      int dg = SymbolDigits(sym);
      if(deals != "") deals += ",";
      deals += "{\"deal\":" + JULong(d)
               + ",\"order\":" + JULong((ulong)HistoryDealGetInteger(d, DEAL_ORDER))
               + ",\"position\":" + JULong((ulong)HistoryDealGetInteger(d, DEAL_POSITION_ID))
               + ",\"symbol\":" + JStr(sym)
               + ",\"side\":" + JStr(type == DEAL_TYPE_BUY ? "buy" : "sell")
               + ",\"entry\":" + JStr(DealEntryName(HistoryDealGetInteger(d, DEAL_ENTRY)))
               + ",\"volume\":" + JVol(HistoryDealGetDouble(d, DEAL_VOLUME))
               + ",\"price\":" + JNum(HistoryDealGetDouble(d, DEAL_PRICE), dg)
               + ",\"profit\":" + JNum(HistoryDealGetDouble(d, DEAL_PROFIT), 2)
               + ",\"commission\":" + JNum(HistoryDealGetDouble(d, DEAL_COMMISSION) + HistoryDealGetDouble(d, DEAL_FEE), 2)
               + ",\"swap\":" + JNum(HistoryDealGetDouble(d, DEAL_SWAP), 2)
               + ",\"comment\":" + JStr(HistoryDealGetString(d, DEAL_COMMENT))
               + ",\"magic\":" + JInt(HistoryDealGetInteger(d, DEAL_MAGIC))
               + ",\"time\":" + JInt(HistoryDealGetInteger(d, DEAL_TIME)) + "}";
     }
   string orders = "";
   int no = HistoryOrdersTotal();
   for(int i = 0; i < no; i++)
     {
      ulong o = HistoryOrderGetTicket(i);
      if(o == 0 || !CommentMatches(HistoryOrderGetString(o, ORDER_COMMENT), comment)) continue;
      string sym = HistoryOrderGetString(o, ORDER_SYMBOL);
      long type = HistoryOrderGetInteger(o, ORDER_TYPE);
      int dg = SymbolDigits(sym);
      if(orders != "") orders += ",";
      orders += "{\"order\":" + JULong(o)
                + ",\"position\":" + JULong((ulong)HistoryOrderGetInteger(o, ORDER_POSITION_ID))
                + ",\"symbol\":" + JStr(sym)
                + ",\"side\":" + JStr(type == ORDER_TYPE_BUY || type == ORDER_TYPE_BUY_LIMIT || type == ORDER_TYPE_BUY_STOP ? "buy" : "sell")
                + ",\"volume\":" + JVol(HistoryOrderGetDouble(o, ORDER_VOLUME_INITIAL))
                + ",\"price\":" + JNum(HistoryOrderGetDouble(o, ORDER_PRICE_OPEN), dg)
                + ",\"state\":" + JStr(OrderStateName(HistoryOrderGetInteger(o, ORDER_STATE)))
                + ",\"comment\":" + JStr(HistoryOrderGetString(o, ORDER_COMMENT))
                + ",\"time\":" + JInt(HistoryOrderGetInteger(o, ORDER_TIME_SETUP)) + "}";
     }
   string positions = "";
   int np = PositionsTotal();
   for(int i = 0; i < np; i++)
     {
      ulong t = PositionGetTicket(i);
      if(t == 0 || !CommentMatches(PositionGetString(POSITION_COMMENT), comment)) continue;
      if(positions != "") positions += ",";
      positions += SelectedPositionJson();
     }
   ReplyOk(id, "{\"deals\":[" + deals + "],\"orders\":[" + orders + "],\"positions\":[" + positions + "]}");
  }

//--- ChartApplyTemplate only queues: wait briefly until the chart's expert is (not)
//--- there and answer what CHART_EXPERT_NAME says (the agent checks `running`).
string ChartStatusJson(const long chart, const bool wait_for_running)
  {
   string expert = ChartGetString(chart, CHART_EXPERT_NAME);
   for(int waited = 0; waited < BRIDGE_CHART_WAIT_MS && (expert != "") != wait_for_running; waited += 100)
     {
      Sleep(100);
      expert = ChartGetString(chart, CHART_EXPERT_NAME);
     }
   return "{\"chart_id\":" + JInt(chart) + ",\"expert\":" + JStr(expert) + ",\"running\":" + JBool(expert != "") + "}";
  }

void CmdChartStatus(const long id, CJsonFlat &req)
  {
   long chart = req.Long("args.chart_id");
   if(chart == 0 || ChartSymbol(chart) == "") { ReplyErr(id, RC_CHART_WRONG_ID, "no such chart"); return; }
   string expert = ChartGetString(chart, CHART_EXPERT_NAME);
   ReplyOk(id, "{\"chart_id\":" + JInt(chart) + ",\"expert\":" + JStr(expert) + ",\"running\":" + JBool(expert != "") + "}");
  }

void CmdChartDeploy(const long id, CJsonFlat &req)
  {
   string sym = req.Str("args.symbol");
   string tpl = req.Str("args.template");
   ENUM_TIMEFRAMES tf;
   if(!ParseTimeframe(req.Str("args.timeframe"), tf)) { ReplyErr(id, RC_BAD_ARGS, "unknown timeframe"); return; }
   if(!SymbolKnown(sym)) { ReplyErr(id, RC_UNKNOWN_SYMBOL, "unknown symbol " + sym); return; }
   if(StringFind(tpl, "<expert>") < 0) { ReplyErr(id, RC_BAD_ARGS, "the template attaches no expert"); return; }
   long chart = ChartOpen(sym, tf);
   if(chart == 0) { ReplyErr(id, GetLastError(), "ChartOpen failed"); return; }
   string file = TemplateFile(chart, true);
   if(!WriteTextFile(file, tpl)) { ReplyErr(id, GetLastError(), "could not write " + file); return; }
   if(!ChartApplyTemplate(chart, "\\Files\\" + file)) { ReplyErr(id, GetLastError(), "ChartApplyTemplate failed"); return; }
   ReplyOk(id, ChartStatusJson(chart, true));
  }

void CmdChartRunStop(const long id, CJsonFlat &req, const bool run)
  {
   long chart = req.Long("args.chart_id");
   if(chart == 0 || ChartSymbol(chart) == "") { ReplyErr(id, RC_CHART_WRONG_ID, "no such chart"); return; }
   // A template applied to this EA's own chart would unload the bridge itself.
   if(chart == ChartID()) { ReplyErr(id, RC_CHART_WRONG_ID, "that is the bridge's own chart"); return; }
   string file = TemplateFile(chart, run);
   if(run)
     {
      if(!FileIsExist(file)) { ReplyErr(id, RC_CHART_WRONG_ID, "chart was not deployed by Companion"); return; }
     }
   else if(!WriteTextFile(file, EmptyTemplate(chart)))
     {
      ReplyErr(id, GetLastError(), "could not write " + file);
      return;
     }
   if(!ChartApplyTemplate(chart, "\\Files\\" + file)) { ReplyErr(id, GetLastError(), "ChartApplyTemplate failed"); return; }
   ReplyOk(id, ChartStatusJson(chart, run));
  }

//--- every symbol the broker offers (not only Market Watch)
void CmdSymbols(const long id)
  {
   int total = SymbolsTotal(false);
   string items = "";
   for(int i = 0; i < total; i++)
     {
      string sym = SymbolName(i, false);
      if(sym == "") continue;
      bool visible = SymbolInfoInteger(sym, SYMBOL_VISIBLE) != 0 || SymbolInfoInteger(sym, SYMBOL_SELECT) != 0;
      if(items != "") items += ",";
      items += "{\"name\":" + JStr(sym)
               + ",\"description\":" + JStr(SymbolInfoString(sym, SYMBOL_DESCRIPTION))
               + ",\"path\":" + JStr(SymbolInfoString(sym, SYMBOL_PATH))
               + ",\"trade_mode\":" + JStr(TradeModeName(SymbolInfoInteger(sym, SYMBOL_TRADE_MODE)))
               + ",\"digits\":" + JInt(SymbolInfoInteger(sym, SYMBOL_DIGITS))
               + ",\"visible\":" + JBool(visible) + "}";
     }
   ReplyOk(id, "{\"symbols\":[" + items + "]}");
  }

//--- deals that closed positions (entry out, inout, out_by) since `from` (server time), oldest first
void CmdDealsSince(const long id, CJsonFlat &req)
  {
   datetime from = (datetime)req.Long("args.from", 0);
   if(!HistorySelect(from, TimeCurrent() + 86400)) { ReplyErr(id, GetLastError(), "HistorySelect failed"); return; }
   string deals = "";
   int nd = HistoryDealsTotal();
   for(int i = 0; i < nd; i++)
     {
      ulong d = HistoryDealGetTicket(i);
      if(d == 0) continue;
      long entry = HistoryDealGetInteger(d, DEAL_ENTRY);
      if(entry == DEAL_ENTRY_IN) continue;
      long type = HistoryDealGetInteger(d, DEAL_TYPE);
      if(type != DEAL_TYPE_BUY && type != DEAL_TYPE_SELL) continue;
      if(HistoryDealGetInteger(d, DEAL_TIME) < (long)from) continue;
      string sym = HistoryDealGetString(d, DEAL_SYMBOL);
      int dg = SymbolDigits(sym);
      if(deals != "") deals += ",";
      deals += "{\"deal\":" + JULong(d)
               + ",\"order\":" + JULong((ulong)HistoryDealGetInteger(d, DEAL_ORDER))
               + ",\"position\":" + JULong((ulong)HistoryDealGetInteger(d, DEAL_POSITION_ID))
               + ",\"symbol\":" + JStr(sym)
               + ",\"side\":" + JStr(type == DEAL_TYPE_BUY ? "buy" : "sell")
               + ",\"entry\":" + JStr(DealEntryName(entry))
               + ",\"volume\":" + JVol(HistoryDealGetDouble(d, DEAL_VOLUME))
               + ",\"price\":" + JNum(HistoryDealGetDouble(d, DEAL_PRICE), dg)
               + ",\"profit\":" + JNum(HistoryDealGetDouble(d, DEAL_PROFIT), 2)
               + ",\"swap\":" + JNum(HistoryDealGetDouble(d, DEAL_SWAP), 2)
               + ",\"commission\":" + JNum(HistoryDealGetDouble(d, DEAL_COMMISSION), 2)
               + ",\"fee\":" + JNum(HistoryDealGetDouble(d, DEAL_FEE), 2)
               + ",\"magic\":" + JInt(HistoryDealGetInteger(d, DEAL_MAGIC))
               + ",\"comment\":" + JStr(HistoryDealGetString(d, DEAL_COMMENT))
               + ",\"time\":" + JInt(HistoryDealGetInteger(d, DEAL_TIME)) + "}";
     }
   ReplyOk(id, "{\"deals\":[" + deals + "]}");
  }

//+------------------------------------------------------------------+
//| Dispatch                                                         |
//+------------------------------------------------------------------+
//+------------------------------------------------------------------+
//| Trade management: pending orders, SL/TP changes                  |
//+------------------------------------------------------------------+
// A price rounded to the symbol's tick size.
double NormalizeToTick(const string sym, const double price)
  {
   double ts = SymbolInfoDouble(sym, SYMBOL_TRADE_TICK_SIZE);
   if(ts <= 0.0) return price;
   return MathRound(price / ts) * ts;
  }

bool PendingType(const string t, ENUM_ORDER_TYPE &type)
  {
   if(t == "buy_limit")       type = ORDER_TYPE_BUY_LIMIT;
   else if(t == "sell_limit") type = ORDER_TYPE_SELL_LIMIT;
   else if(t == "buy_stop")   type = ORDER_TYPE_BUY_STOP;
   else if(t == "sell_stop")  type = ORDER_TYPE_SELL_STOP;
   else return false;
   return true;
  }

string PendingTypeName(const long type)
  {
   if(type == (long)ORDER_TYPE_BUY_LIMIT)  return "buy_limit";
   if(type == (long)ORDER_TYPE_SELL_LIMIT) return "sell_limit";
   if(type == (long)ORDER_TYPE_BUY_STOP)   return "buy_stop";
   if(type == (long)ORDER_TYPE_SELL_STOP)  return "sell_stop";
   return "";
  }

void CmdOrderPlace(const long id, CJsonFlat &req)
  {
   string sym = req.Str("args.symbol");
   ENUM_ORDER_TYPE type;
   if(!PendingType(req.Str("args.type"), type)) { ReplyErr(id, TRADE_RETCODE_INVALID, "type must be buy_limit, sell_limit, buy_stop or sell_stop"); return; }
   if(!SymbolKnown(sym)) { ReplyErr(id, RC_UNKNOWN_SYMBOL, "unknown symbol " + sym); return; }
   if(!TradingAllowed()) { ReplyErr(id, TRADE_RETCODE_CLIENT_DISABLES_AT, "algorithmic trading is disabled in the terminal"); return; }
   int dg = SymbolDigits(sym);
   double price = NormalizeToTick(sym, req.Dbl("args.price"));
   double sl = req.Dbl("args.sl");
   double tp = req.Dbl("args.tp");
   if(sl > 0.0) sl = NormalizeToTick(sym, sl);
   if(tp > 0.0) tp = NormalizeToTick(sym, tp);
   long expiry = req.Long("args.expiry");
   g_trade.SetExpertMagicNumber((ulong)req.Long("args.magic"));
   if(!ChooseFilling(sym, req.Str("args.filling"))) { ReplyErr(id, RC_BAD_ARGS, "filling must be fok, ioc or return"); return; }   // absent: chosen by symbol
   ENUM_ORDER_TYPE_TIME type_time = (expiry > 0) ? ORDER_TIME_SPECIFIED : ORDER_TIME_GTC;
   bool sent = g_trade.OrderOpen(sym, type, req.Dbl("args.volume"), 0.0, price, sl, tp,
                                 type_time, (datetime)expiry, req.Str("args.comment"));
   uint rc = g_trade.ResultRetcode();
   if(!sent || (rc != TRADE_RETCODE_DONE && rc != TRADE_RETCODE_PLACED))
     {
      long code = (rc != 0) ? (long)rc : (long)GetLastError();
      ReplyErr(id, code, g_trade.ResultRetcodeDescription() + " " + g_trade.ResultComment());
      return;
     }
   ReplyOk(id, "{\"retcode\":" + JInt(rc)
           + ",\"order\":" + JULong(g_trade.ResultOrder())
           + ",\"price\":" + JNum(price, dg) + "}");
  }

void CmdOrders(const long id)
  {
   string items = "";
   int total = OrdersTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = OrderGetTicket(i);
      if(ticket == 0) continue;
      string type = PendingTypeName(OrderGetInteger(ORDER_TYPE));
      if(type == "") continue;   // stop-limit and market orders in flight
      string sym = OrderGetString(ORDER_SYMBOL);
      int dg = SymbolDigits(sym);
      if(items != "") items += ",";
      items += "{\"ticket\":" + JULong(ticket)
               + ",\"symbol\":" + JStr(sym)
               + ",\"type\":" + JStr(type)
               + ",\"volume\":" + JNum(OrderGetDouble(ORDER_VOLUME_CURRENT), 2)
               + ",\"price\":" + JNum(OrderGetDouble(ORDER_PRICE_OPEN), dg)
               + ",\"sl\":" + JNum(OrderGetDouble(ORDER_SL), dg)
               + ",\"tp\":" + JNum(OrderGetDouble(ORDER_TP), dg)
               + ",\"magic\":" + JInt(OrderGetInteger(ORDER_MAGIC))
               + ",\"comment\":" + JStr(OrderGetString(ORDER_COMMENT))
               + ",\"expiry\":" + JInt(OrderGetInteger(ORDER_TIME_EXPIRATION)) + "}";
     }
   ReplyOk(id, "{\"orders\":[" + items + "]}");
  }

void CmdOrderCancel(const long id, CJsonFlat &req)
  {
   ulong ticket = (ulong)req.Long("args.ticket");
   if(!OrderSelect(ticket)) { ReplyErr(id, TRADE_RETCODE_INVALID, "no pending order with this ticket"); return; }
   if(!TradingAllowed()) { ReplyErr(id, TRADE_RETCODE_CLIENT_DISABLES_AT, "algorithmic trading is disabled in the terminal"); return; }
   bool sent = g_trade.OrderDelete(ticket);
   uint rc = g_trade.ResultRetcode();
   if(!sent || rc != TRADE_RETCODE_DONE)
     {
      long code = (rc != 0) ? (long)rc : (long)GetLastError();
      ReplyErr(id, code, g_trade.ResultRetcodeDescription() + " " + g_trade.ResultComment());
      return;
     }
   ReplyOk(id, "{\"retcode\":" + JInt(rc) + "}");
  }

void CmdPositionModify(const long id, CJsonFlat &req)
  {
   ulong ticket = (ulong)req.Long("args.ticket");
   if(!PositionSelectByTicket(ticket)) { ReplyErr(id, RC_POSITION_NOT_FOUND, "position not found"); return; }
   if(!TradingAllowed()) { ReplyErr(id, TRADE_RETCODE_CLIENT_DISABLES_AT, "algorithmic trading is disabled in the terminal"); return; }
   string sym = PositionGetString(POSITION_SYMBOL);
   double sl = req.Dbl("args.sl");
   double tp = req.Dbl("args.tp");
   if(sl > 0.0) sl = NormalizeToTick(sym, sl);
   if(tp > 0.0) tp = NormalizeToTick(sym, tp);
   bool sent = g_trade.PositionModify(ticket, sl, tp);
   uint rc = g_trade.ResultRetcode();
   if(!sent || rc != TRADE_RETCODE_DONE)
     {
      long code = (rc != 0) ? (long)rc : (long)GetLastError();
      ReplyErr(id, code, g_trade.ResultRetcodeDescription() + " " + g_trade.ResultComment());
      return;
     }
   ReplyOk(id, "{\"retcode\":" + JInt(rc) + "}");
  }

//+------------------------------------------------------------------+
//| Breakeven and trailing stops (bridge 1.20): rules per ticket in   |
//| terminal global variables "Companion.SR.<ticket>.<field>", so     |
//| they survive a restart of the EA or the terminal; evaluated on    |
//| every tick of the chart and every 250 ms of the timer, whether    |
//| or not the agent is connected (only by the instance holding the   |
//| bridge lock). The SL moves only when it improves (trailing: by at |
//| least the step) and stays the stops level away from the price.   |
//+------------------------------------------------------------------+
#define SR_PREFIX    "Companion.SR."
#define SR_EVERY_MS  250

string g_sr_tf_names[9] = {"M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1"};
string g_sr_fields[15] = {"bt", "bo", "bd", "ta", "td", "ts", "tf", "tp", "tm", "sh", "on", "ls", "mv", "pp", "dr"};
ulong  g_sr_last_ms     = 0;        // last evaluation
ulong  g_sr_last_err_ms = 0;        // last failed modification printed

string SrName(const ulong ticket, const string field)
  {
   return SR_PREFIX + StringFormat("%I64u", ticket) + "." + field;
  }

bool SrHas(const ulong ticket)
  {
   return GlobalVariableCheck(SrName(ticket, "set"));
  }

double SrGet(const ulong ticket, const string field)
  {
   return GlobalVariableGet(SrName(ticket, field));
  }

void SrPut(const ulong ticket, const string field, const double value)
  {
   GlobalVariableSet(SrName(ticket, field), value);
  }

void SrDelete(const ulong ticket)
  {
   for(int i = 0; i < 15; i++)
      GlobalVariableDel(SrName(ticket, g_sr_fields[i]));
   GlobalVariableDel(SrName(ticket, "set"));
  }

// index+1 of a timeframe name (0 = none)
int SrTfIndex(const string name)
  {
   for(int i = 0; i < 9; i++)
      if(g_sr_tf_names[i] == name) return i + 1;
   return 0;
  }

string SrPhase(const ulong ticket)
  {
   if(SrGet(ticket, "ta") >= 0.0 && SrGet(ticket, "on") > 0.5) return "trailing";
   if(SrGet(ticket, "bt") > 0.0 && SrGet(ticket, "bd") > 0.5) return "triggered";
   return "armed";
  }

// the rule state as the protocol's StopRuleState
string SrStateJson(const ulong ticket)
  {
   string j = "{\"ticket\":" + JULong(ticket);
   if(SrGet(ticket, "bt") > 0.0)
      j += ",\"breakeven\":{\"trigger\":" + JNum(SrGet(ticket, "bt"), 10)
           + ",\"offset\":" + JNum(SrGet(ticket, "bo"), 10)
           + ",\"done\":" + JBool(SrGet(ticket, "bd") > 0.5) + "}";
   if(SrGet(ticket, "ta") >= 0.0)
     {
      j += ",\"trailing\":{\"activation\":" + JNum(SrGet(ticket, "ta"), 10)
           + ",\"distance\":" + JNum(SrGet(ticket, "td"), 10)
           + ",\"step\":" + JNum(SrGet(ticket, "ts"), 10);
      int tf = (int)SrGet(ticket, "tf");
      if(tf >= 1 && tf <= 9)
         j += ",\"atr\":{\"timeframe\":" + JStr(g_sr_tf_names[tf - 1])
              + ",\"period\":" + JInt((long)SrGet(ticket, "tp"))
              + ",\"multiplier\":" + JNum(SrGet(ticket, "tm"), 8)
              + ",\"shift\":" + JInt((long)SrGet(ticket, "sh")) + "}";
      j += ",\"active\":" + JBool(SrGet(ticket, "on") > 0.5) + "}";
     }
   j += ",\"phase\":" + JStr(SrPhase(ticket));
   double ls = SrGet(ticket, "ls");
   if(ls > 0.0) j += ",\"last_sl\":" + JNum(ls, 10);
   j += ",\"moves\":" + JInt((long)SrGet(ticket, "mv"))
        + ",\"pip\":" + JNum(SrGet(ticket, "pp"), 10) + "}";
   return j;
  }

// `,"stop_rule":{…}` for a position's JSON when it has rules, else ""
string SrPositionField(const ulong ticket, const ulong identifier)
  {
   if(SrHas(ticket)) return ",\"stop_rule\":" + SrStateJson(ticket);
   if(identifier != ticket && SrHas(identifier)) return ",\"stop_rule\":" + SrStateJson(identifier);
   return "";
  }

// the tickets that have rules
int SrTickets(ulong &tickets[])
  {
   int n = 0;
   int total = GlobalVariablesTotal();
   int plen = StringLen(SR_PREFIX);
   for(int i = 0; i < total; i++)
     {
      string name = GlobalVariableName(i);
      int len = StringLen(name);
      if(len <= plen + 4 || StringSubstr(name, 0, plen) != SR_PREFIX || StringSubstr(name, len - 4) != ".set")
         continue;
      ArrayResize(tickets, n + 1);
      tickets[n] = (ulong)StringToInteger(StringSubstr(name, plen, len - plen - 4));
      n++;
     }
   return n;
  }

// selects the open position of a rule's ticket (its ticket or, for a filled
// pending order, the position whose identifier it is)
bool SrSelectPosition(const ulong ticket)
  {
   if(PositionSelectByTicket(ticket)) return true;
   int count = PositionsTotal();
   for(int i = 0; i < count; i++)
     {
      ulong t = PositionGetTicket(i);
      if(t != 0 && (ulong)PositionGetInteger(POSITION_IDENTIFIER) == ticket) return true;
     }
   return false;
  }

// ATR of `period` bars of `tf` ending `shift` bars back (0 when there are too few)
double SrAtr(const string sym, const int tf_index, const int period, const int shift)
  {
   if(tf_index < 1 || tf_index > 9 || period < 1) return 0.0;
   ENUM_TIMEFRAMES tf;
   if(!ParseTimeframe(g_sr_tf_names[tf_index - 1], tf)) return 0.0;
   MqlRates rates[];
   int got = CopyRates(sym, tf, shift, period + 1, rates);   // oldest first
   if(got < period + 1) return 0.0;
   double sum = 0.0;
   for(int i = 1; i <= period; i++)
     {
      double hl = rates[i].high - rates[i].low;
      double hc = MathAbs(rates[i].high - rates[i - 1].close);
      double lc = MathAbs(rates[i].low - rates[i - 1].close);
      sum += MathMax(hl, MathMax(hc, lc));
     }
   return sum / period;
  }

// true when `sl` is on the right side of `price`, at least the stops level away
bool SrAllowed(const bool buy, const double price, const double sl, const double level, const double point)
  {
   double d = buy ? price - sl : sl - price;
   if(level > 0.0) return d >= level - point * 1e-6;
   return d > point * 1e-6;
  }

// evaluates the rules of `ticket` against the selected position
void SrEvaluate(const ulong ticket)
  {
   ulong pos = (ulong)PositionGetInteger(POSITION_TICKET);
   string sym = PositionGetString(POSITION_SYMBOL);
   bool buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   double open = PositionGetDouble(POSITION_PRICE_OPEN);
   double sl = PositionGetDouble(POSITION_SL);
   double tp = PositionGetDouble(POSITION_TP);
   MqlTick tick;
   if(!SymbolInfoTick(sym, tick) || tick.bid <= 0.0 || tick.ask <= 0.0) return;
   double point = SymbolInfoDouble(sym, SYMBOL_POINT);
   if(point <= 0.0) return;
   int dg = SymbolDigits(sym);
   double level = (double)SymbolInfoInteger(sym, SYMBOL_TRADE_STOPS_LEVEL) * point;
   double dir = buy ? 1.0 : -1.0;
   //--- the direction the rules were made for: a netting reversal drops them
   double dr = SrGet(ticket, "dr");
   if(dr == 0.0)
     {
      SrPut(ticket, "dr", dir);
      GlobalVariablesFlush();
     }
   else if(dr != dir)
     {
      SrDelete(ticket);
      GlobalVariablesFlush();
      return;
     }
   double price = buy ? tick.bid : tick.ask;
   double profit = dir * (price - open);
   double eps = point * 1e-6;
   double new_sl = sl;
   bool be_done = false, tr_on = false;
   //--- breakeven
   double bt = SrGet(ticket, "bt");
   if(bt > 0.0 && SrGet(ticket, "bd") < 0.5 && profit >= bt - eps)
     {
      double target = NormalizeDouble(NormalizeToTick(sym, open + dir * SrGet(ticket, "bo")), dg);
      if(sl > 0.0 && dir * (target - sl) <= eps)
         be_done = true;                      // already at or beyond breakeven
      else if(SrAllowed(buy, price, target, level, point))
        {
         new_sl = target;
         be_done = true;
        }
     }
   //--- trailing
   double ta = SrGet(ticket, "ta");
   if(ta >= 0.0)
     {
      bool active = SrGet(ticket, "on") > 0.5;
      if(!active && (ta <= 0.0 || profit >= ta - eps)) { active = true; tr_on = true; }   // 0: at once
      double dist = SrGet(ticket, "td");
      int tf = (int)SrGet(ticket, "tf");
      if(tf > 0)
         dist = SrAtr(sym, tf, (int)SrGet(ticket, "tp"), (int)SrGet(ticket, "sh")) * SrGet(ticket, "tm");
      if(active && dist > 0.0)
        {
         double cand = NormalizeDouble(NormalizeToTick(sym, price - dir * dist), dg);
         if(level > 0.0 && dir * (price - cand) < level - eps)
           {
            double c = price - dir * level;   // as close as the broker allows
            cand = NormalizeDouble(buy ? MathFloor(c / point) * point : MathCeil(c / point) * point, dg);
           }
         double step = MathMax(SrGet(ticket, "ts"), point);
         bool improves = (new_sl <= 0.0) || (dir * (cand - new_sl) >= step - eps);
         if(improves && SrAllowed(buy, price, cand, level, point))
            new_sl = cand;
        }
     }
   bool changed = false;
   if(new_sl != sl)
     {
      if(!TradingAllowed()) return;          // keep the progress for when it is allowed
      if(!g_trade.PositionModify(pos, new_sl, tp) || g_trade.ResultRetcode() != TRADE_RETCODE_DONE)
        {
         ulong now = GetTickCount64();
         if(now - g_sr_last_err_ms >= 60000)
           {
            PrintFormat("Companion bridge: moving the SL of %I64u to %s failed: %d %s", pos,
                        DoubleToString(new_sl, dg), g_trade.ResultRetcode(), g_trade.ResultRetcodeDescription());
            g_sr_last_err_ms = now;
           }
         return;                             // retried on the next evaluation
        }
      SrPut(ticket, "ls", new_sl);
      SrPut(ticket, "mv", SrGet(ticket, "mv") + 1.0);
      changed = true;
     }
   if(be_done) { SrPut(ticket, "bd", 1.0); changed = true; }
   if(tr_on)   { SrPut(ticket, "on", 1.0); changed = true; }
   if(changed) GlobalVariablesFlush();
  }

// every rule: evaluated, kept while its pending order waits, dropped once gone
void SrTick(const bool force)
  {
   ulong now = GetTickCount64();
   if(!force && now - g_sr_last_ms < SR_EVERY_MS) return;
   g_sr_last_ms = now;
   if(g_lock_id == 0.0) return;               // one bridge per terminal runs the rules
   ulong tickets[];
   int n = SrTickets(tickets);
   bool dropped = false;
   for(int i = 0; i < n; i++)
     {
      ulong t = tickets[i];
      if(SrSelectPosition(t)) { SrEvaluate(t); continue; }
      if(OrderSelect(t)) continue;            // a pending order: waits for its fill
      SrDelete(t);                            // closed or deleted: its rules go
      dropped = true;
     }
   if(dropped) GlobalVariablesFlush();
  }

void CmdStopRuleSet(const long id, CJsonFlat &req)
  {
   ulong ticket = (ulong)req.Long("args.ticket");
   bool has_be = req.Has("args.breakeven.trigger");
   bool has_tr = req.Has("args.trailing.distance") || req.Has("args.trailing.atr.period");
   if(!has_be && !has_tr) { ReplyErr(id, RC_BAD_ARGS, "stop_rule_set needs breakeven or trailing (stop_rule_cancel removes rules)"); return; }
   double bt = req.Dbl("args.breakeven.trigger"), bo = req.Dbl("args.breakeven.offset");
   double ta = req.Dbl("args.trailing.activation"), td = req.Dbl("args.trailing.distance");
   double ts = req.Dbl("args.trailing.step");
   int tf = SrTfIndex(req.Str("args.trailing.atr.timeframe"));
   double tp = (double)req.Long("args.trailing.atr.period");
   double tm = req.Dbl("args.trailing.atr.multiplier");
   double sh = (double)req.Long("args.trailing.atr.shift", 1);
   if(has_be && (!(bt > 0.0) || bo < 0.0)) { ReplyErr(id, RC_BAD_ARGS, "breakeven: trigger must be positive, offset at least 0"); return; }
   if(has_tr)
     {
      bool atr = req.Has("args.trailing.atr.period");
      bool ok = atr ? (tf > 0 && tp >= 1.0 && tm > 0.0 && (sh == 0.0 || sh == 1.0)) : td > 0.0;
      if(!ok || ta < 0.0 || ts < 0.0) { ReplyErr(id, RC_BAD_ARGS, "trailing: distance (or atr timeframe, period, multiplier) must be positive, activation and step at least 0"); return; }
      if(!atr) tf = 0;
     }
   if(!SrSelectPosition(ticket) && !OrderSelect(ticket)) { ReplyErr(id, RC_POSITION_NOT_FOUND, "no open position or pending order with this ticket"); return; }
   // The same rules again keep their progress (idempotent).
   bool same = SrHas(ticket)
               && (has_be ? SrGet(ticket, "bt") == bt && SrGet(ticket, "bo") == bo : SrGet(ticket, "bt") <= 0.0)
               && (has_tr ? SrGet(ticket, "ta") == ta && SrGet(ticket, "td") == (tf > 0 ? 0.0 : td)
                            && SrGet(ticket, "ts") == ts && (int)SrGet(ticket, "tf") == tf
                            && SrGet(ticket, "tp") == (tf > 0 ? tp : 0.0) && SrGet(ticket, "tm") == (tf > 0 ? tm : 0.0)
                          : SrGet(ticket, "ta") < 0.0);
   if(!same)
     {
      SrDelete(ticket);
      SrPut(ticket, "bt", has_be ? bt : 0.0);
      SrPut(ticket, "bo", has_be ? bo : 0.0);
      SrPut(ticket, "bd", 0.0);
      SrPut(ticket, "ta", has_tr ? ta : -1.0);
      SrPut(ticket, "td", has_tr && tf == 0 ? td : 0.0);
      SrPut(ticket, "ts", has_tr ? ts : 0.0);
      SrPut(ticket, "tf", (double)tf);
      SrPut(ticket, "tp", tf > 0 ? tp : 0.0);
      SrPut(ticket, "tm", tf > 0 ? tm : 0.0);
      SrPut(ticket, "sh", tf > 0 ? sh : 1.0);
      SrPut(ticket, "on", 0.0);
      SrPut(ticket, "ls", 0.0);
      SrPut(ticket, "mv", 0.0);
      SrPut(ticket, "pp", MathMax(0.0, req.Dbl("args.pip")));
      SrPut(ticket, "set", 1.0);
      GlobalVariablesFlush();
     }
   // Evaluated at once: a trigger already reached moves the SL now.
   if(SrSelectPosition(ticket)) SrEvaluate(ticket);
   ReplyOk(id, SrStateJson(ticket));
  }

void CmdStopRules(const long id)
  {
   ulong tickets[];
   int n = SrTickets(tickets);
   string items = "";
   for(int i = 0; i < n; i++)
     {
      if(items != "") items += ",";
      items += SrStateJson(tickets[i]);
     }
   ReplyOk(id, "{\"rules\":[" + items + "]}");
  }

void CmdStopRuleCancel(const long id, CJsonFlat &req)
  {
   ulong ticket = (ulong)req.Long("args.ticket");
   bool removed = SrHas(ticket);
   if(removed)
     {
      SrDelete(ticket);
      GlobalVariablesFlush();
     }
   ReplyOk(id, "{\"removed\":" + JBool(removed) + "}");
  }

void HandleLine(const string line)
  {
   CJsonFlat msg;
   if(!msg.Parse(line))
     {
      Print("Companion bridge: ignored a line that is not JSON");
      return;
     }
   string type = msg.Str("type");
   if(type == "heartbeat") return;
   if(type == "hello_ok")
     {
      g_state = ST_READY;
      g_backoff_ms = 500;
      g_heartbeat_ms = (int)MathMax(500, msg.Long("heartbeat_ms", 5000));
      Print("Companion bridge: connected to the agent");
      return;
     }
   if(type == "hello_error")
     {
      PrintFormat("Companion bridge: the agent refused the connection (%s): %s", msg.Str("code"), msg.Str("message"));
      CloseSocket("refused");
      g_next_try_ms = GetTickCount64() + 30000;
      return;
     }
   if(g_state != ST_READY || !msg.Has("cmd")) return;
   long id = msg.Long("id");
   string cmd = msg.Str("cmd");
   if(cmd == "ping")                    ReplyOk(id, "{\"time\":" + JInt((long)TimeCurrent()) + "}");
   else if(cmd == "info")               CmdInfo(id);
   else if(cmd == "account")            CmdAccount(id);
   else if(cmd == "positions")          CmdPositions(id);
   else if(cmd == "symbol_info")        CmdSymbolInfo(id, msg);
   else if(cmd == "quotes")             CmdQuotes(id, msg);
   else if(cmd == "candles")            CmdCandles(id, msg);
   else if(cmd == "order_send")         CmdOrderSend(id, msg);
   else if(cmd == "position_close")     CmdPositionClose(id, msg);
   else if(cmd == "history_by_comment") CmdHistoryByComment(id, msg);
   else if(cmd == "chart_deploy")       CmdChartDeploy(id, msg);
   else if(cmd == "chart_run")          CmdChartRunStop(id, msg, true);
   else if(cmd == "chart_stop")         CmdChartRunStop(id, msg, false);
   else if(cmd == "chart_status")       CmdChartStatus(id, msg);
   else if(cmd == "symbols")            CmdSymbols(id);
   else if(cmd == "deals_since")        CmdDealsSince(id, msg);
   else if(cmd == "order_place")        CmdOrderPlace(id, msg);
   else if(cmd == "orders")             CmdOrders(id);
   else if(cmd == "order_cancel")       CmdOrderCancel(id, msg);
   else if(cmd == "position_modify")    CmdPositionModify(id, msg);
   else if(cmd == "stop_rule_set")      CmdStopRuleSet(id, msg);
   else if(cmd == "stop_rules")         CmdStopRules(id);
   else if(cmd == "stop_rule_cancel")   CmdStopRuleCancel(id, msg);
   else                                 ReplyErr(id, RC_UNKNOWN_COMMAND, "unknown command " + cmd);
  }

//+------------------------------------------------------------------+
//| Expert events                                                    |
//+------------------------------------------------------------------+
int OnInit(void)
  {
   if(InpToken == "")
     {
      Print("Companion bridge: set the Bridge token input (the Companion app shows it).");
      return INIT_PARAMETERS_INCORRECT;
     }
   if(MQLInfoInteger(MQL_TESTER))
      return INIT_FAILED;   // a live bridge only
   ArrayResize(g_rx, 65536);
   g_next_try_ms = 0;
   EventSetMillisecondTimer(BRIDGE_TIMER_MS);
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   CloseSocket("EA removed");
   ReleaseBridgeLock();
  }

void OnTimer(void)
  {
   SrTick(false);   // breakeven/trailing run with or without the agent
   if(g_socket == INVALID_HANDLE)
     {
      TryConnect();
      return;
     }
   PumpSocket();
   if(g_socket == INVALID_HANDLE) return;
   ulong now = GetTickCount64();
   if(g_state == ST_READY && now - g_last_tx_ms >= (ulong)g_heartbeat_ms)
      SendHeartbeat();
   if(now - g_last_rx_ms > (ulong)(4 * g_heartbeat_ms))
      CloseSocket("agent silent");
  }

void OnTick(void)
  {
   SrTick(false);
  }
//+------------------------------------------------------------------+
