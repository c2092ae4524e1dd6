// asio: an event_loop over boost::asio::io_context, for servers built on Boost.Asio.
#pragma once

#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fiberpool/event_loop.hpp>

namespace fiberpool {

// Drives a hosted runtime from an io_context: readers are asio stream_descriptors waiting for
// readability (the fd is not taken over: it is released, never closed, on removal), and call_at
// is a steady_timer. Use it from the io_context's thread.
class asio_event_loop final : public event_loop {
 public:
  explicit asio_event_loop(boost::asio::io_context& io) : io_(io) {}
  ~asio_event_loop() override {
    for (auto& [fd, r] : readers_) r->stop();
  }

  void add_reader(int fd, std::function<void()> on_readable) override {
    remove_reader(fd);
    auto r = std::make_shared<reader>(io_, fd, std::move(on_readable));
    readers_[fd] = r;
    r->arm();
  }

  void remove_reader(int fd) override {
    auto it = readers_.find(fd);
    if (it == readers_.end()) return;
    it->second->stop();
    readers_.erase(it);
  }

  void call_at(clock::time_point t, std::function<void()> fn) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, t);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  }

 private:
  struct reader : std::enable_shared_from_this<reader> {
    reader(boost::asio::io_context& io, int fd, std::function<void()> fn)
        : sd(io, fd), on_readable(std::move(fn)) {}
    void arm() {
      sd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [self = shared_from_this()](const boost::system::error_code& ec) {
                      if (ec || self->stopped) return;
                      self->on_readable();
                      if (!self->stopped) self->arm();
                    });
    }
    void stop() {
      stopped = true;
      boost::system::error_code ignored;
      sd.cancel(ignored);
      sd.release();  // the fd belongs to the runtime
    }
    boost::asio::posix::stream_descriptor sd;
    std::function<void()> on_readable;
    bool stopped = false;
  };

  boost::asio::io_context& io_;
  std::map<int, std::shared_ptr<reader>> readers_;
};

}  // namespace fiberpool
