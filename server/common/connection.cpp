#include "server/common/connection.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>

#include "server/common/internal/channel.h"

namespace priortune::server {

StatusOr<std::string> ReadSmallFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(flag + ": cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().size() > (1 << 20)) return InvalidArgument(flag + ": '" + path + "' is over 1 MiB");
  return s.str();
}

StatusOr<std::string> ReadToken(const ConnectionOptions& o) {
  if (!o.token_file.empty()) {
    PT_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(o.token_file, "--token-file"));
    std::string token = text.substr(0, text.find('\n'));
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) return InvalidArgument("--token-file: '" + o.token_file + "' holds no token on its first line");
    return token;
  }
  return o.token;
}

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  if (o.tls_ca.empty()) {
    if (!o.tls_cert.empty()) return InvalidArgument("--tls-cert needs --tls-ca (the CA of the server's certificate)");
    return grpc::CreateCustomChannel(o.server, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  PT_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadSmallFile(o.tls_ca, "--tls-ca"));
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty()) return InvalidArgument("--tls-cert and --tls-key go together");
    PT_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadSmallFile(o.tls_cert, "--tls-cert"));
    PT_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadSmallFile(o.tls_key, "--tls-key"));
  }
  return grpc::CreateCustomChannel(o.server, grpc::SslCredentials(ssl), args);
}

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

Status FromGrpc(const grpc::Status& s) { return Status(static_cast<StatusCode>(s.error_code()), s.error_message()); }

std::string Describe(const grpc::Status& s) { return FromGrpc(s).ToString(); }

}  // namespace priortune::server
