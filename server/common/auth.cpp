#include "server/common/auth.h"

#include <sstream>

#include "server/common/connection.h"

namespace priortune::server {

const char* RoleName(Role role) { return role == Role::kClient ? "client" : "worker"; }

StatusOr<TokenTable> TokenTable::Parse(const std::string& text, const std::string& file) {
  TokenTable table;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream fields(line);
    std::string role, name, token, extra;
    fields >> role;
    if (role.empty() || role[0] == '#') continue;
    fields >> name >> token >> extra;
    std::string where = file + " line " + std::to_string(n) + ": ";
    if (token.empty() || !extra.empty()) return InvalidArgument(where + "expected `ROLE NAME TOKEN`");
    Principal p{name, Role::kClient};
    if (role == "worker")
      p.role = Role::kWorker;
    else if (role != "client")
      return InvalidArgument(where + "role '" + role + "' is neither client nor worker");
    if (token.size() < 16) return InvalidArgument(where + "the token of " + name + " is shorter than 16 characters");
    if (!table.tokens_.emplace(token, p).second) return InvalidArgument(where + "this token was given before");
  }
  return table;
}

StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  PT_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, "--tokens"));
  return Parse(text, path);
}

std::optional<Principal> TokenTable::Find(const std::string& token) const {
  std::optional<Principal> found;
  for (const auto& [t, p] : tokens_) {
    // Constant time per comparison: the position of a mismatch does not show.
    unsigned diff = t.size() != token.size();
    for (size_t i = 0; i < t.size(); ++i)
      diff |= static_cast<unsigned char>(t[i]) ^ static_cast<unsigned char>(i < token.size() ? token[i] : 0);
    if (diff == 0) found = p;
  }
  return found;
}

}  // namespace priortune::server
