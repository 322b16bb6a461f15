// OpenStore: a store by URL.
#include <fstream>

#include "db/store.h"

namespace priortune::db {

bool IsPostgresUrl(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

bool StoreExists(const std::string& url) {
  if (IsPostgresUrl(url)) return true;
  const std::string path = url.rfind("sqlite://", 0) == 0 ? url.substr(9) : url;
  return !path.empty() && std::ifstream(path).good();
}

StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (IsPostgresUrl(url)) return OpenPostgresStore(url);
  if (url.rfind("sqlite://", 0) == 0) {
    const std::string path = url.substr(9);
    if (path.empty()) return InvalidArgument("store URL '" + url + "' names no file (sqlite:///path)");
    return OpenSqliteStore(path);
  }
  const auto scheme = url.find("://");
  if (scheme != std::string::npos && url.find('/') > scheme)
    return InvalidArgument("store URL '" + url + "': unknown scheme '" + url.substr(0, scheme) +
                           "' (sqlite:///path, postgresql://user@host:port/dbname, or a file path)");
  return OpenSqliteStore(url);
}

}  // namespace priortune::db
