#include "lsp/transport.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <csignal>
#include <deque>
#include <memory>
#include <thread>

namespace mtpc::lsp {

namespace asio = boost::asio;
using asio::ip::tcp;

int serve_stdio(CompletionService& service, Logger& log, const ServerOptions& options,
                const TransportOptions& transport) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a write error, not a kill
  auto io = std::make_shared<asio::io_context>();
  auto work = asio::make_work_guard(*io);
  bool out_closed = false;
  auto send = [&out_closed, &log](std::string framed) {
    size_t off = 0;
    while (!out_closed && off < framed.size()) {
      ssize_t n = ::write(STDOUT_FILENO, framed.data() + off, framed.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        log.line("stdout closed; replies dropped");
        out_closed = true;
        return;
      }
      off += static_cast<size_t>(n);
    }
  };
  auto post = [io](std::function<void()> f) { asio::post(*io, std::move(f)); };
  auto server = LspServer::create(service, log, options, send, post, "stdio");
  std::weak_ptr<LspServer> weak = server;

  // stdin may be a pipe, a terminal or a regular file (transcripts); a plain
  // blocking reader thread serves all three, handing bytes to the I/O thread.
  std::thread reader([io, weak, chunk = transport.read_chunk_bytes] {
    std::string buf(chunk, '\0');
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        asio::post(*io, [io, weak] {
          if (auto s = weak.lock()) s->on_disconnect();
          io->stop();
        });
        return;
      }
      asio::post(*io, [io, weak, bytes = buf.substr(0, static_cast<size_t>(n))] {
        auto s = weak.lock();
        if (!s) return;
        s->on_bytes(bytes);
        if (s->exit_requested()) io->stop();
      });
    }
  });
  io->run();
  int code = server->exit_requested() ? server->exit_code() : 0;
  server->on_disconnect();
  // After `exit` the reader may still block on stdin; the process ends anyway.
  reader.detach();
  return code;
}

namespace {

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(std::shared_ptr<asio::io_context> io, tcp::socket socket, CompletionService& service, Logger& log,
                const ServerOptions& options, const TransportOptions& transport)
      : io_(std::move(io)), socket_(std::move(socket)), log_(log), buffer_(transport.read_chunk_bytes, '\0') {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "tcp" : ep.address().to_string() + ":" + std::to_string(ep.port());
    service_ = &service;
    options_ = &options;
  }

  void start() {
    auto self = shared_from_this();
    std::weak_ptr<TcpConnection> weak = self;
    // The engine thread may answer after serve_tcp returned: the posts keep
    // the io_context alive.
    std::shared_ptr<asio::io_context> io = io_;
    server_ = LspServer::create(
        *service_, log_, *options_,
        [weak](std::string framed) {
          if (auto c = weak.lock()) c->write(std::move(framed));
        },
        [io](std::function<void()> f) { asio::post(*io, std::move(f)); }, peer_);
    log_.line(peer_ + " connected");
    read();
  }

 private:
  void read() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(buffer_), [self](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->close(ec == asio::error::eof ? "disconnected" : "read error: " + ec.message());
        return;
      }
      self->server_->on_bytes(std::string_view(self->buffer_.data(), n));
      if (self->server_->exit_requested()) {
        self->closing_ = true;  // close once the queued replies are written
        if (self->queue_.empty()) self->close("exit");
        return;
      }
      self->read();
    });
  }

  void write(std::string framed) {
    if (closed_) return;
    queue_.push_back(std::move(framed));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(queue_.front()), [self](boost::system::error_code ec, size_t) {
      if (ec) {
        self->close("write error: " + ec.message());
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write_next();
      else if (self->closing_) self->close("exit");
    });
  }

  void close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    log_.line(peer_ + " " + why);
    queue_.clear();
    server_->on_disconnect();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    server_.reset();
  }

  std::shared_ptr<asio::io_context> io_;
  tcp::socket socket_;
  CompletionService* service_;
  Logger& log_;
  const ServerOptions* options_;
  std::string buffer_;
  std::string peer_;
  std::shared_ptr<LspServer> server_;
  std::deque<std::string> queue_;
  bool closing_ = false, closed_ = false;
};

}  // namespace

int serve_tcp(CompletionService& service, Logger& log, const ServerOptions& options, const std::string& host,
              uint16_t port, const TransportOptions& transport) {
  std::signal(SIGPIPE, SIG_IGN);
  auto io_owner = std::make_shared<asio::io_context>();
  asio::io_context& io = *io_owner;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    log.line("cannot listen: bad address " + host + ": " + ec.message());
    return 1;
  }
  tcp::acceptor acceptor(io);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    log.line("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    return 1;
  }
  log.line("listening on " + host + ":" + std::to_string(acceptor.local_endpoint().port()));

  std::function<void()> accept = [&] {
    acceptor.async_accept([&](boost::system::error_code aec, tcp::socket socket) {
      if (aec) {
        if (aec == asio::error::operation_aborted) return;
        log.line("accept error: " + aec.message());
      } else {
        std::make_shared<TcpConnection>(io_owner, std::move(socket), service, log, options, transport)->start();
      }
      accept();
    });
  };
  accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int sig) {
    log.line("signal " + std::to_string(sig) + ": stopping");
    io.stop();
  });
  io.run();
  return 0;
}

Result<ListenAddress> parse_listen_address(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      size_t used = 0;
      port = std::stoi(spec.substr(colon + 1), &used);
      if (used != spec.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
    }
  }
  if (port < 0 || port > 65535) return Status::Error("--listen wants HOST:PORT, got " + spec);
  return ListenAddress{spec.substr(0, colon), static_cast<uint16_t>(port)};
}

}  // namespace mtpc::lsp
