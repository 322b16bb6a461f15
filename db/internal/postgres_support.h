// libpq, wrapped for the PostgreSQL store (postgres_store.cpp): query parameters, results
// cleared on scope exit, a result row as the shared record reader reads it, and
// connecting with the password kept out of messages. Only db/postgres_*.cpp include it.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "db/store.h"
#include "db/store_rows.h"

namespace priortune::db::internal {

// A query parameter: text, binary (bytea) or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
};
inline Param P(const std::string& v) { return {v, false}; }
inline Param P(int64_t v) { return {std::to_string(v), false}; }
inline Param P(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);  // round-trips exactly
  return {std::string(buf), false};
}
inline Param Null() { return {std::nullopt, false}; }
inline Param Blob(const std::string& v) { return {v, true}; }

// A result, cleared on scope exit.
class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  int64_t changed() const { return std::atoll(PQcmdTuples(r_)); }
  PGresult* get() const { return r_; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t Int(int row, int col) const { return std::atoll(PQgetvalue(r_, row, col)); }
  double Real(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* p = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
    std::string out = p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
    PQfreemem(p);
    return out;
  }

 private:
  PGresult* r_;
};

// Row `row` of a result, as ReadRecordRow reads it.
struct RowOf {
  const Result& r;
  int row;
  std::string Text(int col) const { return r.Text(row, col); }
  int64_t Int(int col) const { return r.Int(row, col); }
  double Real(int col) const { return r.Real(row, col); }
  bool IsNull(int col) const { return r.IsNull(row, col); }
};
inline StatusOr<Record> ReadRecord(const Result& s, int row) { return ReadRecordRow(RowOf{s, row}); }

// The URL with its password (user:password@) replaced by ***, for messages.
inline std::string Redacted(const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// A new connection to `url`, or Unavailable with libpq's reason (the password redacted).
inline StatusOr<PGconn*> Connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
  std::string message = conn ? PQerrorMessage(conn) : "out of memory";
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  PQfinish(conn);
  return Status(StatusCode::kUnavailable, "cannot open store '" + Redacted(url) + "': " + message);
}

}  // namespace priortune::db::internal
