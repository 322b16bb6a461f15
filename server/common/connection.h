// How a client or a worker reaches a priortune server: address, TLS and the token. The
// token never comes from the command line: a file (--token-file) or $PRIORTUNE_TOKEN.
#pragma once

#include <string>

#include "compiler/support/status.h"

namespace priortune::server {

struct ConnectionOptions {
  std::string server;      // host:port
  std::string token_file;  // a file holding the token; empty: `token`
  std::string token;       // the token itself, when no file is given (main reads $PRIORTUNE_TOKEN)
  std::string tls_ca;      // PEM of the CA that signed the server's certificate; empty: plaintext
  std::string tls_cert;    // PEM of this side's certificate (mutual TLS), with tls_key
  std::string tls_key;
  double connect_seconds = 10;
};

// The token to send: the first line of token_file, else `token`, else "" (no token). InvalidArgument naming the file
// when it cannot be read or is empty.
StatusOr<std::string> ReadToken(const ConnectionOptions& options);

// The whole of a (PEM, token) file; InvalidArgument naming the flag and path.
StatusOr<std::string> ReadSmallFile(const std::string& path, const std::string& flag);

}  // namespace priortune::server
