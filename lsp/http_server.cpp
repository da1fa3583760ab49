#include "lsp/http_server.h"

#include <future>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>

namespace mtpc::lsp {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(HttpApi& a, Logger& l, HttpServerOptions o)
      : api(a), log(l), options(o), io(std::make_shared<net::io_context>()), acceptor(*io) {}
  void accept();

  HttpApi& api;
  Logger& log;
  HttpServerOptions options;
  std::shared_ptr<net::io_context> io;
  tcp::acceptor acceptor;
  std::atomic<size_t> connections{0};
};

namespace {

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<HttpServer::Impl> server, tcp::socket socket)
      : server_(std::move(server)), stream_(std::move(socket)) {
    ++server_->connections;
  }
  ~Connection() { --server_->connections; }

  void start() { read(); }

  // Called through Exchange, posted onto the I/O thread.
  void reply(HttpReply r) {
    std::string out = status_line(r.status);
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    out += "\r\n";
    if (!head_) out += r.body;
    queue(std::move(out), true);
  }
  void stream_begin() {
    std::string out = status_line(200);
    out += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    out += "\r\n";
    queue(std::move(out), false);
  }
  void stream_data(const std::string& bytes) {
    if (bytes.empty()) return;  // an empty chunk would end the body
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
    queue(size + bytes + "\r\n", false);
  }
  void stream_end() { queue("0\r\n\r\n", true); }
  std::shared_ptr<CancellationToken> cancel() const { return cancel_; }
  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // Clients that send "Expect: 100-continue" (curl, for bodies over 1 KiB)
  // wait for it before sending the body; the read timeout still covers the
  // whole request.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    const auto expect = parser_->get()[http::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue), [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      return close();
    }
    if (ec) {
      keep_alive_ = false;
      int status = 400;
      std::string message = "malformed request: " + ec.message();
      if (ec == http::error::body_limit) {
        status = 413;
        message = "the body is larger than " + std::to_string(server_->options.max_body_bytes) + " bytes";
      } else if (ec == http::error::header_limit) {
        status = 431;
        message = "the request headers are larger than " + std::to_string(server_->options.max_header_bytes) +
                  " bytes";
      } else if (ec.category() != http::make_error_code(http::error::body_limit).category()) {
        return close();  // a socket error, not a parse error: nothing to answer
      }
      HttpReply r;
      r.status = status;
      r.body = error_body(message, "invalid_request_error");
      return reply(std::move(r));
    }
    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    head_ = request.method() == http::verb::head;
    cancel_ = std::make_shared<CancellationToken>();
    stream_.expires_never();  // the request's deadline bounds the generation
    HttpRequest r;
    r.method = std::string(request.method_string());
    r.target = std::string(request.target());
    if (auto it = request.find(http::field::authorization); it != request.end())
      r.authorization = std::string(it->value());
    r.body = std::move(request.body());
    server_->api.handle(std::move(r), make_exchange());
  }

  std::shared_ptr<HttpExchange> make_exchange();

  void queue(std::string bytes, bool last) {
    writes_.push_back({std::move(bytes), last});
    if (!writing_) write_next();
  }

  void write_next() {
    if (writes_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    stream_.expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
    net::async_write(stream_, net::buffer(writes_.front().bytes),
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      if (cancel_) cancel_->cancel();  // the client is gone: stop generating
      writes_.clear();
      writing_ = false;
      return close();
    }
    const bool last = writes_.front().last;
    writes_.pop_front();
    if (last) {
      stream_.expires_never();
      if (!keep_alive_) return linger_close();
      writes_.clear();
      writing_ = false;
      return read();
    }
    write_next();
  }

  // After an answer that closes the connection: stop sending, then read and
  // drop what the client still sends (bounded) so that it sees the answer
  // rather than a reset.
  void linger_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(1));
    drain_.resize(64u << 10);
    drain();
  }
  void drain() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (1u << 20)) return self->close();
      self->drain();
    });
  }

  void close() {
    if (cancel_) cancel_->cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  struct Write {
    std::string bytes;
    bool last;  // the end of an answer
  };
  std::shared_ptr<HttpServer::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<Write> writes_;
  bool writing_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  std::shared_ptr<CancellationToken> cancel_;
  std::string drain_;
  size_t drained_ = 0;
};

// Thread-safe: every call hops onto the connection's I/O thread.
class Exchange : public HttpExchange {
 public:
  Exchange(std::shared_ptr<Connection> c, std::shared_ptr<net::io_context> io)
      : connection_(std::move(c)), io_(std::move(io)), cancel_(connection_->cancel()) {}
  void reply(HttpReply r) override {
    net::post(connection_->executor(), [c = connection_, r = std::move(r)]() mutable { c->reply(std::move(r)); });
  }
  void stream_begin() override { net::post(connection_->executor(), [c = connection_] { c->stream_begin(); }); }
  void stream_data(std::string bytes) override {
    net::post(connection_->executor(), [c = connection_, b = std::move(bytes)] { c->stream_data(b); });
  }
  void stream_end() override { net::post(connection_->executor(), [c = connection_] { c->stream_end(); }); }
  std::shared_ptr<const CancellationToken> cancel_token() override { return cancel_; }

 private:
  std::shared_ptr<Connection> connection_;
  std::shared_ptr<net::io_context> io_;  // posts stay valid after the server stops
  std::shared_ptr<const CancellationToken> cancel_;
};

std::shared_ptr<HttpExchange> Connection::make_exchange() {
  return std::make_shared<Exchange>(shared_from_this(), server_->io);
}

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(*io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (self->connections.load() >= self->options.max_connections) {
        self->log.line("http: connection limit reached; closing a new connection");
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Connection>(self, std::move(socket))->start();
      }
    }
    if (self->acceptor.is_open()) self->accept();
  });
}

HttpServer::HttpServer(HttpApi& api, Logger& log, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(api, log, options)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start(const std::string& host, uint16_t port) {
  beast::error_code ec;
  auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return Status::Error("--http: not an IP address: " + host);
  tcp::endpoint endpoint(address, port);
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Error("cannot listen for HTTP on " + host + ":" + std::to_string(port) + ": " + ec.message());
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->log.line("HTTP API on " + host + ":" + std::to_string(port_));
  impl_->accept();
  thread_ = std::thread([io = impl_->io] {
    auto work = net::make_work_guard(*io);
    io->run();
  });
  return Status::Ok();
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  net::post(*impl_->io, [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->io->stop();
  thread_.join();
}

void HttpServer::stop_accepting() {
  if (!thread_.joinable()) return;
  std::promise<void> closed;
  net::post(*impl_->io, [impl = impl_, &closed] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
}

void wait_for_stop_signal() {
  net::io_context io;
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](beast::error_code, int) { io.stop(); });
  io.run();
}

}  // namespace mtpc::lsp
