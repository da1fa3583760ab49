#include "lsp/transport.h"

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cerrno>
#include <csignal>
#include <deque>
#include <memory>
#include <thread>
#include <type_traits>

#include "lsp/tls.h"

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
  // SIGTERM/SIGINT: drain (finish what decodes within the grace period,
  // answer it), then end with 0.
  std::thread drainer;
  bool drained = false;
  asio::signal_set signals(*io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code sec, int sig) {
    if (sec) return;
    log.line("signal " + std::to_string(sig) + ": draining (grace " + std::to_string(transport.drain_grace.count()) +
             " ms)");
    if (transport.on_drain) transport.on_drain();
    drained = true;
    drainer = std::thread([io, &service, &log, grace = transport.drain_grace] {
      const bool clean = service.drain(grace);
      log.line(clean ? "drained: every admitted request answered" : "drain grace ran out: the rest were cancelled");
      auto timer = std::make_shared<asio::steady_timer>(*io, std::chrono::milliseconds(200));  // replies flush
      asio::post(*io, [io, timer] { timer->async_wait([io, timer](boost::system::error_code) { io->stop(); }); });
    });
  });
  io->run();
  if (drainer.joinable()) drainer.join();
  int code = drained ? 0 : server->exit_requested() ? server->exit_code() : 0;
  server->on_disconnect();
  // After `exit` the reader may still block on stdin; the process ends anyway.
  reader.detach();
  return code;
}

namespace {

using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket>;

template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// One client over TCP or TLS. Holds one --max-connections slot from accept
// to close. A timer enforces --read-timeout-s (a TLS handshake or a started
// message must complete in time: slow clients are dropped) and
// --idle-timeout-s (no bytes at all).
template <typename Stream>
class TcpConnection : public std::enable_shared_from_this<TcpConnection<Stream>> {
 public:
  template <typename... StreamArgs>
  TcpConnection(std::shared_ptr<asio::io_context> io, CompletionService& service, Logger& log,
                const ServerOptions& options, const TransportOptions& transport, StreamArgs&&... stream_args)
      : io_(std::move(io)), stream_(std::forward<StreamArgs>(stream_args)...), timer_(*io_), log_(log),
        buffer_(transport.read_chunk_bytes, '\0') {
    boost::system::error_code ec;
    auto ep = socket().remote_endpoint(ec);
    peer_ = ec ? "tcp" : ep.address().to_string() + ":" + std::to_string(ep.port());
    service_ = &service;
    options_ = &options;
    access_ = options.access.get();
    last_bytes_ = started_ = accepted_ = Clock::now();
  }

  void start() {
    auto self = this->shared_from_this();
    log_.line(peer_ + " connected" + (kIsTls<Stream> ? " (TLS)" : ""));
    arm_timer();
    if constexpr (kIsTls<Stream>) {
      stream_.async_handshake(asio::ssl::stream_base::server, [self](boost::system::error_code ec) {
        if (ec) {
          // A plain client on the TLS port lands here.
          self->close("TLS handshake failed: " + ec.message());
          return;
        }
        self->handshake_done_ = true;
        self->begin();
      });
    } else {
      handshake_done_ = true;
      begin();
    }
  }

 private:
  tcp::socket& socket() {
    if constexpr (kIsTls<Stream>) return stream_.next_layer();
    else return stream_;
  }

  void begin() {
    std::weak_ptr<TcpConnection> weak = this->shared_from_this();
    // The engine thread may answer after serve_tcp returned: the posts keep
    // the io_context alive.
    std::shared_ptr<asio::io_context> io = io_;
    server_ = LspServer::create(
        *service_, log_, *options_,
        [weak](std::string framed) {
          if (auto c = weak.lock()) c->write(std::move(framed));
        },
        [io](std::function<void()> f) { asio::post(*io, std::move(f)); }, peer_);
    read();
  }

  void read() {
    auto self = this->shared_from_this();
    stream_.async_read_some(asio::buffer(buffer_), [self](boost::system::error_code ec, size_t n) {
      if (ec) {
        self->close(ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ? "disconnected"
                                                                                     : "read error: " + ec.message());
        return;
      }
      if (self->closed_) return;
      if constexpr (!kIsTls<Stream>) {
        // 0x16 opens a TLS handshake record; JSON-RPC starts "Content-".
        if (!self->seen_bytes_ && n > 0 && self->buffer_[0] == '\x16') {
          self->close("closed: a TLS client on a plain port (the server has no --tls-cert)");
          return;
        }
      }
      self->seen_bytes_ = true;
      const auto now = Clock::now();
      self->last_bytes_ = now;
      const bool was_mid = self->server_->mid_message();
      self->server_->on_bytes(std::string_view(self->buffer_.data(), n));
      if (!self->server_->mid_message()) self->in_message_ = false;
      else if (!was_mid || !self->in_message_) {
        self->in_message_ = true;
        self->started_ = now;  // a new message began in this chunk
      }
      if (self->server_->exit_requested() || self->server_->close_requested()) {
        self->closing_ = true;  // close once the queued replies are written
        if (self->queue_.empty()) self->close(self->server_->exit_requested() ? "exit" : "closed: access refused");
        return;
      }
      self->read();
    });
  }

  // Re-checks the deadlines whenever the timer fires; re-arms for the next.
  void arm_timer() {
    const AccessLimits limits = access_ ? access_->limits() : AccessLimits{0, 0, 0, 0, 0, 0};
    auto secs = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
    const auto now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    std::string why;
    auto consider = [&](bool applies, Clock::time_point from, double limit_s, const char* reason) {
      if (!applies || limit_s <= 0) return;
      auto at = from + secs(limit_s);
      if (at <= now) why = reason;
      next = std::min(next, at);
    };
    consider(!handshake_done_, started_, limits.read_timeout_s, "TLS handshake not done within --read-timeout-s");
    consider(handshake_done_ && in_message_, started_, limits.read_timeout_s,
             "message not complete within --read-timeout-s (slow client)");
    consider(true, last_bytes_, limits.idle_timeout_s, "idle for --idle-timeout-s");
    // An unauthenticated connection holds a --max-connections slot: it gets
    // --read-timeout-s to authenticate, not --idle-timeout-s.
    consider(!server_ || server_->awaiting_token(), accepted_, limits.read_timeout_s,
             "no valid initialize within --read-timeout-s");
    if (!why.empty()) {
      if (access_) access_->count_timeout();
      close("dropped: " + why);
      return;
    }
    if (next == Clock::time_point::max()) return;
    // At least every second, so a deadline that moved later is seen in time.
    timer_.expires_at(std::min(next, now + std::chrono::seconds(1)));
    std::weak_ptr<TcpConnection> weak = this->shared_from_this();
    timer_.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      self->arm_timer();
    });
  }

  void write(std::string framed) {
    if (closed_) return;
    queue_.push_back(std::move(framed));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    auto self = this->shared_from_this();
    asio::async_write(stream_, asio::buffer(queue_.front()), [self](boost::system::error_code ec, size_t) {
      // Closed meanwhile (the close cancelled this write): the queue is
      // left as it was, for nobody.
      if (self->closed_) return;
      if (ec) {
        self->close("write error: " + ec.message());
        return;
      }
      self->queue_.pop_front();
      if (!self->queue_.empty()) self->write_next();
      else if (self->closing_)
        self->close(self->server_ && self->server_->exit_requested() ? "exit" : "closed: access refused");
    });
  }

  void close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    log_.line(peer_ + " " + why);
    // queue_ is not cleared: a write in flight still reads its front (the
    // buffers go with the connection).
    if (server_) server_->on_disconnect();
    boost::system::error_code ec;
    timer_.cancel(ec);
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
    server_.reset();
    if (access_) access_->release_connection();
  }

  std::shared_ptr<asio::io_context> io_;
  Stream stream_;
  asio::steady_timer timer_;
  CompletionService* service_;
  Logger& log_;
  const ServerOptions* options_;
  AccessControl* access_ = nullptr;
  std::string buffer_;
  std::string peer_;
  std::shared_ptr<LspServer> server_;
  std::deque<std::string> queue_;
  Clock::time_point last_bytes_, started_, accepted_;
  bool handshake_done_ = false, in_message_ = false, seen_bytes_ = false;
  bool closing_ = false, closed_ = false;
};

// Over --max-connections: a plain client gets one JSON-RPC error (id null,
// -32011) before the close; a TLS client just the close (no handshake is
// spent on it).
void refuse_connection(tcp::socket socket, bool tls, Logger& log) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  log.line((ec ? std::string("tcp") : ep.address().to_string() + ":" + std::to_string(ep.port())) +
           " refused: over --max-connections");
  if (tls) {
    socket.close(ec);
    return;
  }
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  auto msg = std::make_shared<std::string>(frame_message(
      R"j({"jsonrpc":"2.0","id":null,"error":{"code":-32011,"message":"too many connections (--max-connections)"}})j"));
  asio::async_write(*s, asio::buffer(*msg), [s, msg](boost::system::error_code, size_t) {
    boost::system::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  });
}

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
  AccessControl* access = options.access.get();
  const bool tls = transport.tls != nullptr;
  log.line(std::string(tls ? "TLS " : "") + (access && access->requires_token() ? "tokens required; " : "no tokens; ") +
           "listening on " + host + ":" + std::to_string(acceptor.local_endpoint().port()));

  std::function<void()> accept = [&] {
    acceptor.async_accept([&](boost::system::error_code aec, tcp::socket socket) {
      if (aec) {
        if (aec == asio::error::operation_aborted) return;
        log.line("accept error: " + aec.message());
      } else if (access && !access->admit_connection()) {
        refuse_connection(std::move(socket), tls, log);
      } else if (tls) {
        std::make_shared<TcpConnection<TlsStream>>(io_owner, service, log, options, transport, std::move(socket),
                                                   transport.tls->context())
            ->start();
      } else {
        std::make_shared<TcpConnection<tcp::socket>>(io_owner, service, log, options, transport, std::move(socket))
            ->start();
      }
      accept();
    });
  };
  accept();
  // SIGTERM/SIGINT: stop accepting, drain (finish what decodes within the
  // grace period and answer it), then end with 0.
  std::thread drainer;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code sec, int sig) {
    if (sec) return;
    log.line("signal " + std::to_string(sig) + ": draining (grace " + std::to_string(transport.drain_grace.count()) +
             " ms)");
    if (transport.on_drain) transport.on_drain();
    boost::system::error_code ignored;
    acceptor.close(ignored);
    drainer = std::thread([io_owner, &service, &log, grace = transport.drain_grace] {
      const bool clean = service.drain(grace);
      log.line(clean ? "drained: every admitted request answered" : "drain grace ran out: the rest were cancelled");
      auto timer = std::make_shared<asio::steady_timer>(*io_owner, std::chrono::milliseconds(200));  // replies flush
      asio::post(*io_owner, [io_owner, timer] {
        timer->async_wait([io_owner, timer](boost::system::error_code) { io_owner->stop(); });
      });
    });
  });
  // SIGHUP: re-read the tokens file; removed users are refused from their
  // next message on.
  asio::signal_set hangup(io, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](boost::system::error_code hec, int) {
      if (hec) return;
      if (access && access->requires_token()) {
        Status s = access->reload();
        log.line(s.ok() ? "SIGHUP: tokens file reloaded" : "SIGHUP: tokens file not reloaded, old one kept: " + s.message());
      } else {
        log.line("SIGHUP: no --tokens file to reload");
      }
      wait_hangup();
    });
  };
  wait_hangup();
  io.run();
  if (drainer.joinable()) drainer.join();
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
