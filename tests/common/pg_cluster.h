// A throwaway PostgreSQL cluster for a test (scripts/pg_cluster.sh): started on a free
// loopback port in a temporary directory, stopped and removed by the destructor. Databases are
// created on demand; Sql runs a statement behind the Store's back. Tests link libpq.
#pragma once

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

namespace priortune::testing {

class PgCluster {
 public:
  // Starts the cluster in a directory of its own under /tmp (reachable by the postgres
  // user, which the server runs as when the test runs as root). "" or what went wrong.
  std::string Start() {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/priortune-pg-XXXXXX";
    if (!mkdtemp(tmpl)) return "mkdtemp failed";
    root_ = tmpl;
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    dir_ = root_ / "pg";
    // A free port: bound, read back, released (the cluster binds it next).
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "cannot bind a port";
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    close(fd);
    const std::string start = std::string("bash ") + PRIORTUNE_SOURCE_DIR + "/scripts/pg_cluster.sh start " +
                              dir_.string() + " " + std::to_string(port);
    FILE* out = popen(start.c_str(), "r");
    if (!out) return "cannot run pg_cluster.sh";
    char line[512] = {};
    std::string url = fgets(line, sizeof(line), out) ? line : "";
    if (pclose(out) != 0) return "pg_cluster.sh start failed (its message is above)";
    while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
    if (url.rfind("postgresql://", 0) != 0) return "pg_cluster.sh printed '" + url + "'";
    base_ = url.substr(0, url.rfind('/') + 1);
    started_ = true;
    return "";
  }
  ~PgCluster() {
    if (root_.empty()) return;
    if (!started_) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
      return;
    }
    const std::string stop =
        std::string("bash ") + PRIORTUNE_SOURCE_DIR + "/scripts/pg_cluster.sh stop " + dir_.string();
    if (std::system(stop.c_str()) != 0) std::fprintf(stderr, "pg_cluster.sh stop failed\n");
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  // The URL of database `name` (letters and digits kept in lower case, the rest made _,
  // at most 63 bytes), created on first use.
  std::string Url(const std::string& name) {
    const std::string db = DbName(name);
    if (created_.insert(db).second) {
      std::string err = Sql("priortune", "CREATE DATABASE " + db);
      if (!err.empty()) std::fprintf(stderr, "CREATE DATABASE %s: %s\n", db.c_str(), err.c_str());
    }
    return base_ + db;
  }
  // "" or libpq's error, for `sql` on the database called `name`.
  std::string Sql(const std::string& name, const std::string& sql) {
    PGconn* c = PQconnectdb((base_ + DbName(name)).c_str());
    std::string err;
    if (PQstatus(c) != CONNECTION_OK) {
      err = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    return err;
  }

 private:
  static std::string DbName(const std::string& name) {
    if (name == "priortune") return name;
    std::string db = "t_";
    // Unquoted identifiers are folded to lower case and cut at 63 bytes.
    for (char c : name)
      db += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                                                        : '_';
    return db.substr(0, 63);
  }
  std::filesystem::path root_, dir_;
  std::string base_;
  bool started_ = false;
  std::set<std::string> created_;
};

}  // namespace priortune::testing
