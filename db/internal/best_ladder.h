// Store::Best's fallback ladder, written once for both SQL backends (internal to db/):
// the exact target's stored best first (a point lookup), then the workload's correct
// records fastest first on the exact target, on targets of the ISA family, on any
// target, read a page at a time, each record tried once, until `filter` accepts one.
// A backend supplies two narrow queries, with the SQL below (db/best_ladder.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "db/store.h"
#include "db/store_rows.h"

namespace priortune::db {

// The exact target's row of the best table: ?1 workload key, ?2 target key.
inline const std::string kStoredBestSql =
    std::string("SELECT ") + kRecordColumns +
    "JOIN best b ON b.workload_id = w.id AND b.target_id = t.id AND b.record_id = r.id "
    "WHERE w.key = ?1 AND t.key = ?2";

// A page of a level's correct records, fastest then oldest first: ?1 workload key, then
// the level's target key or ISA family (not for kAny), then limit and offset.
inline std::string LadderPageSql(MatchLevel level) {
  const char* where = level == MatchLevel::kExact       ? "AND t.key = ?2 "
                      : level == MatchLevel::kIsaFamily ? "AND t.isa_family = ?2 "
                                                        : "";
  const char* page = level == MatchLevel::kAny ? "LIMIT ?2 OFFSET ?3" : "LIMIT ?3 OFFSET ?4";
  return std::string("SELECT ") + kRecordColumns + "WHERE w.key = ?1 AND r.cost IS NOT NULL " + where +
         "ORDER BY r.cost, r.id " + page;
}

struct LadderQueries {
  // kStoredBestSql's row, if any.
  std::function<StatusOr<std::optional<Record>>()> stored_best;
  // LadderPageSql(level)'s rows with the level's argument, `limit` and `offset`.
  std::function<StatusOr<std::vector<Record>>(MatchLevel level, const std::string& arg, int limit, int offset)> page;
};

inline constexpr int kLadderPage = 64;

// The fastest record `filter` accepts, by the ladder above; nullopt when none does.
StatusOr<std::optional<BestMatch>> LadderBest(const LadderQueries& q, const std::string& target_key,
                                              const std::string& isa_family, const BestFilter& filter);

}  // namespace priortune::db
