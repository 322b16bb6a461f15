#include "db/internal/best_ladder.h"

#include <set>

namespace priortune::db {

StatusOr<std::optional<BestMatch>> LadderBest(const LadderQueries& q, const std::string& target_key,
                                              const std::string& isa_family, const BestFilter& filter) {
  auto accepts = [&](const Record& r, MatchLevel level) { return !filter || filter(r, level).empty(); };
  std::set<int64_t> seen;  // a level includes the ones before it
  PT_ASSIGN_OR_RETURN(std::optional<Record> stored, q.stored_best());
  if (stored) {
    if (accepts(*stored, MatchLevel::kExact)) return std::optional<BestMatch>(BestMatch{*stored, MatchLevel::kExact});
    seen.insert(stored->id);
  }
  for (MatchLevel level : {MatchLevel::kExact, MatchLevel::kIsaFamily, MatchLevel::kAny}) {
    const std::string& arg = level == MatchLevel::kExact ? target_key : isa_family;
    for (int offset = 0;; offset += kLadderPage) {
      PT_ASSIGN_OR_RETURN(std::vector<Record> rows, q.page(level, arg, kLadderPage, offset));
      for (Record& r : rows) {
        if (!seen.insert(r.id).second) continue;
        if (accepts(r, level)) return std::optional<BestMatch>(BestMatch{std::move(r), level});
      }
      if (static_cast<int>(rows.size()) < kLadderPage) break;
    }
  }
  return std::optional<BestMatch>();
}

}  // namespace priortune::db
