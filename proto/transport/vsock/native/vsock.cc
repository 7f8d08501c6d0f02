// Parent and enclave. The only native code of the wire: AF_VSOCK sockets for Node, which has no
// vsock support. It creates, binds, listens, connects and closes sockets and hands back plain file
// descriptors; libuv (through net.Server / net.Socket) does all reading, writing and accepting.
// Kept to the C N-API so it builds against any Node >= 18 without extra headers.
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include <cstdint>
#include <cstdio>

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return "EIO";
  }
}

napi_value MakeError(napi_env env, const char* syscall, int err) {
  napi_value code, msg, error;
  char text[128];
  snprintf(text, sizeof(text), "vsock %s failed: %s", syscall, strerror(err));
  napi_create_string_utf8(env, ErrnoName(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_value errnoValue, sys;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  return error;
}

napi_value Throw(napi_env env, const char* syscall, int err) {
  napi_throw(env, MakeError(env, syscall, err));
  return nullptr;
}

// Strict: a number that is an integer in 0..2^32-1 (napi_get_value_uint32 alone would wrap -1).
bool ArgU32(napi_env env, napi_value v, uint32_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}

bool GetArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) {
    napi_throw_type_error(env, "EINVAL", "missing arguments");
    return false;
  }
  return true;
}

int NewSocket() {
  return socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

// probe(): 0 when the kernel can create AF_VSOCK sockets, else throws (EAFNOSUPPORT, ...).
napi_value Probe(napi_env env, napi_callback_info) {
  int fd = NewSocket();
  if (fd < 0) return Throw(env, "socket", errno);
  close(fd);
  napi_value r;
  napi_create_int32(env, 0, &r);
  return r;
}

// listen(cid, port, backlog) -> fd of a bound, listening, non-blocking socket.
napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  uint32_t cid, port, backlog;
  if (!ArgU32(env, argv[0], &cid) || !ArgU32(env, argv[1], &port) || !ArgU32(env, argv[2], &backlog)) {
    napi_throw_type_error(env, "EINVAL", "cid, port and backlog must be uint32");
    return nullptr;
  }
  int fd = NewSocket();
  if (fd < 0) return Throw(env, "socket", errno);
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof(addr));
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) < 0) {
    int e = errno;
    close(fd);
    return Throw(env, "bind", e);
  }
  if (listen(fd, static_cast<int>(backlog > 4096 ? 4096 : backlog)) < 0) {
    int e = errno;
    close(fd);
    return Throw(env, "listen", e);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return Throw(env, "fcntl", e);
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

// localAddress(fd) -> { cid, port } from getsockname (the port the kernel chose for port -1).
napi_value LocalAddress(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "fd must be int32");
    return nullptr;
  }
  struct sockaddr_vm addr;
  socklen_t len = sizeof(addr);
  memset(&addr, 0, sizeof(addr));
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) < 0) return Throw(env, "getsockname", errno);
  napi_value obj, cid, port;
  napi_create_object(env, &obj);
  napi_create_uint32(env, addr.svm_cid, &cid);
  napi_create_uint32(env, addr.svm_port, &port);
  napi_set_named_property(env, obj, "cid", cid);
  napi_set_named_property(env, obj, "port", port);
  return obj;
}

// close(fd): for a socket not (yet) handed to libuv.
napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "fd must be a non-negative int32");
    return nullptr;
  }
  if (close(fd) < 0) return Throw(env, "close", errno);
  return nullptr;
}

// connect(cid, port, timeoutMs) -> Promise<fd>. Runs on the libuv thread pool because connect()
// on AF_VSOCK blocks; the timeout bounds it (SO_VM_SOCKETS_CONNECT_TIMEOUT).
struct ConnectWork {
  napi_async_work work;
  napi_deferred deferred;
  uint32_t cid, port, timeout_ms;
  int fd;
  int err;
  const char* syscall;
};

void ConnectExecute(napi_env, void* data) {
  ConnectWork* w = static_cast<ConnectWork*>(data);
  w->fd = -1;
  int fd = NewSocket();
  if (fd < 0) {
    w->err = errno;
    w->syscall = "socket";
    return;
  }
  struct timeval tv;
  tv.tv_sec = w->timeout_ms / 1000;
  tv.tv_usec = (w->timeout_ms % 1000) * 1000;
  setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof(addr));
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = w->cid;
  addr.svm_port = w->port;
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    w->err = errno;
    w->syscall = "connect";
    close(fd);
    return;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    w->err = errno;
    w->syscall = "fcntl";
    close(fd);
    return;
  }
  w->fd = fd;
  w->err = 0;
}

void ConnectComplete(napi_env env, napi_status, void* data) {
  ConnectWork* w = static_cast<ConnectWork*>(data);
  if (w->err == 0) {
    napi_value fd;
    napi_create_int32(env, w->fd, &fd);
    napi_resolve_deferred(env, w->deferred, fd);
  } else {
    napi_reject_deferred(env, w->deferred, MakeError(env, w->syscall, w->err));
  }
  napi_delete_async_work(env, w->work);
  delete w;
}

napi_value Connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!GetArgs(env, info, 3, argv)) return nullptr;
  ConnectWork* w = new ConnectWork();
  if (!ArgU32(env, argv[0], &w->cid) || !ArgU32(env, argv[1], &w->port) || !ArgU32(env, argv[2], &w->timeout_ms)) {
    delete w;
    napi_throw_type_error(env, "EINVAL", "cid, port and timeoutMs must be uint32");
    return nullptr;
  }
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "vsock.connect", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, ConnectExecute, ConnectComplete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"probe", nullptr, Probe, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"listen", nullptr, Listen, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"localAddress", nullptr, LocalAddress, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, Close, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"connect", nullptr, Connect, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
