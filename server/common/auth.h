// Who may call what: tokens with roles, read from a file the server is given. A client
// token submits, watches and looks up; a worker token only leases measurement work.
// The file holds one token per line: `ROLE NAME TOKEN` (ROLE client or worker; NAME is
// what logs and per-client limits use); blank lines and lines starting with # are skipped.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "compiler/support/status.h"

namespace priortune::server {

enum class Role : uint8_t { kClient, kWorker };
const char* RoleName(Role role);

struct Principal {
  std::string name;
  Role role = Role::kClient;
};

class TokenTable {
 public:
  // InvalidArgument "FILE line N: ..." for a malformed line, an unknown role, a token
  // shorter than 16 characters or one given twice.
  static StatusOr<TokenTable> Parse(const std::string& text, const std::string& file = "tokens");
  static StatusOr<TokenTable> Load(const std::string& path);
  // The principal of `token`, compared in constant time per entry.
  std::optional<Principal> Find(const std::string& token) const;
  size_t size() const { return tokens_.size(); }

 private:
  std::map<std::string, Principal> tokens_;
};

}  // namespace priortune::server
