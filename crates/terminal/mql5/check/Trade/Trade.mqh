// Trade/Trade.mqh for scripts/mql5-check: declarations only, standing in for the MQL5
// Standard Library's <Trade\Trade.mqh> (class CTrade). Signatures as in the Standard
// Library (MQL5 reference: Standard Library > Trade Classes > CTrade; MetaQuotes'
// Include\Trade\Trade.mqh). Only the public members an EA is likely to call are declared;
// add others from the same source when the EA starts using them, with their exact types.
// MQL5 passes 'const string' parameters by value; that is what is written here too.
#pragma once

class CObject
  {
public:
   virtual          ~CObject(void) {}
  };

enum ENUM_LOG_LEVELS { LOG_LEVEL_NO=0, LOG_LEVEL_ERRORS=1, LOG_LEVEL_ALL=2 };

class CTrade : public CObject
  {
public:
                     CTrade(void);
                    ~CTrade(void);
   //--- settings
   void              LogLevel(const ENUM_LOG_LEVELS log_level);
   void              SetAsyncMode(const bool mode);
   void              SetExpertMagicNumber(const ulong magic);
   void              SetDeviationInPoints(const ulong deviation);
   void              SetTypeFilling(const ENUM_ORDER_TYPE_FILLING filling);
   bool              SetTypeFillingBySymbol(const string symbol);
   void              SetMarginMode(void);
   //--- the last request
   void              Request(MqlTradeRequest &request) const;
   ENUM_TRADE_REQUEST_ACTIONS RequestAction(void) const;
   ulong             RequestMagic(void) const;
   ulong             RequestOrder(void) const;
   ulong             RequestPosition(void) const;
   ulong             RequestPositionBy(void) const;
   string            RequestSymbol(void) const;
   double            RequestVolume(void) const;
   double            RequestPrice(void) const;
   double            RequestStopLimit(void) const;
   double            RequestSL(void) const;
   double            RequestTP(void) const;
   ulong             RequestDeviation(void) const;
   ENUM_ORDER_TYPE   RequestType(void) const;
   ENUM_ORDER_TYPE_FILLING RequestTypeFilling(void) const;
   ENUM_ORDER_TYPE_TIME RequestTypeTime(void) const;
   datetime          RequestExpiration(void) const;
   string            RequestComment(void) const;
   //--- the last result
   void              Result(MqlTradeResult &result) const;
   uint              ResultRetcode(void) const;
   string            ResultRetcodeDescription(void) const;
   int               ResultRetcodeExternal(void) const;
   ulong             ResultDeal(void) const;
   ulong             ResultOrder(void) const;
   double            ResultVolume(void) const;
   double            ResultPrice(void) const;
   double            ResultBid(void) const;
   double            ResultAsk(void) const;
   string            ResultComment(void) const;
   //--- the last check
   void              CheckResult(MqlTradeCheckResult &check_result) const;
   uint              CheckResultRetcode(void) const;
   string            CheckResultRetcodeDescription(void) const;
   string            CheckResultComment(void) const;
   //--- positions
   bool              PositionOpen(const string symbol,const ENUM_ORDER_TYPE order_type,const double volume,
                                  const double price,const double sl,const double tp,const string comment="");
   bool              PositionModify(const string symbol,const double sl,const double tp);
   bool              PositionModify(const ulong ticket,const double sl,const double tp);
   bool              PositionClose(const string symbol,const ulong deviation=ULONG_MAX);
   bool              PositionClose(const ulong ticket,const ulong deviation=ULONG_MAX);
   bool              PositionCloseBy(const ulong ticket,const ulong ticket_by);
   bool              PositionClosePartial(const string symbol,const double volume,const ulong deviation=ULONG_MAX);
   bool              PositionClosePartial(const ulong ticket,const double volume,const ulong deviation=ULONG_MAX);
   //--- pending orders
   bool              OrderOpen(const string symbol,const ENUM_ORDER_TYPE order_type,const double volume,
                               const double limit_price,const double price,const double sl,const double tp,
                               ENUM_ORDER_TYPE_TIME type_time=ORDER_TIME_GTC,const datetime expiration=0,
                               const string comment="");
   bool              OrderModify(const ulong ticket,const double price,const double sl,const double tp,
                                 const ENUM_ORDER_TYPE_TIME type_time,const datetime expiration,const double stoplimit=0.0);
   bool              OrderDelete(const ulong ticket);
   //--- market and pending shortcuts
   bool              Buy(const double volume,const string symbol=NULL,double price=0.0,const double sl=0.0,const double tp=0.0,const string comment="");
   bool              Sell(const double volume,const string symbol=NULL,double price=0.0,const double sl=0.0,const double tp=0.0,const string comment="");
   bool              BuyLimit(const double volume,const double price,const string symbol=NULL,const double sl=0.0,const double tp=0.0,
                              const ENUM_ORDER_TYPE_TIME type_time=ORDER_TIME_GTC,const datetime expiration=0,const string comment="");
   bool              BuyStop(const double volume,const double price,const string symbol=NULL,const double sl=0.0,const double tp=0.0,
                             const ENUM_ORDER_TYPE_TIME type_time=ORDER_TIME_GTC,const datetime expiration=0,const string comment="");
   bool              SellLimit(const double volume,const double price,const string symbol=NULL,const double sl=0.0,const double tp=0.0,
                               const ENUM_ORDER_TYPE_TIME type_time=ORDER_TIME_GTC,const datetime expiration=0,const string comment="");
   bool              SellStop(const double volume,const double price,const string symbol=NULL,const double sl=0.0,const double tp=0.0,
                              const ENUM_ORDER_TYPE_TIME type_time=ORDER_TIME_GTC,const datetime expiration=0,const string comment="");
   //--- raw requests
   virtual double    CheckVolume(const string symbol,double volume,double price,ENUM_ORDER_TYPE order_type);
   virtual bool      OrderCheck(const MqlTradeRequest &request,MqlTradeCheckResult &check_result);
   virtual bool      OrderSend(const MqlTradeRequest &request,MqlTradeResult &result);
   //--- journal
   void              PrintRequest(void) const;
   void              PrintResult(void) const;
  };
