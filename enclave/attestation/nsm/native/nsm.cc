// Enclave (NSM mode). The one thing Node cannot do by itself: open /dev/nsm and issue the NSM
// ioctl. Everything else (CBOR encoding, decoding, error mapping) lives in TypeScript
// (enclave/attestation/nsm-protocol.ts) where it is unit-tested.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace {

// _IOWR(0x0A, 0, struct nsm_raw) with sizeof(nsm_raw) == 32: 0xC0200A00.
constexpr unsigned long kNsmIoctlRequest = 0xC0200A00UL;
constexpr size_t kMaxRequest = 0x1000;
constexpr size_t kMaxResponse = 0x3000;

struct NsmIovec {
  uint64_t addr;
  uint64_t len;
};
struct NsmRaw {
  NsmIovec request;
  NsmIovec response;
};
static_assert(sizeof(NsmRaw) == 32, "nsm_raw must be 32 bytes");

Napi::Value ThrowErrno(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + std::strerror(err));
  e.Set("code", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// open(path: string): number
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "open(path)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open", errno);
  return Napi::Number::New(env, fd);
}

// request(fd: number, request: Uint8Array, responseCapacity: number): Buffer
Napi::Value Request(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsTypedArray() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "request(fd, request, responseCapacity)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Uint8Array req = info[1].As<Napi::Uint8Array>();
  int64_t cap = info[2].As<Napi::Number>().Int64Value();
  if (req.ByteLength() == 0 || req.ByteLength() > kMaxRequest) {
    Napi::RangeError::New(env, "request size out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (cap <= 0 || static_cast<uint64_t>(cap) > kMaxResponse) {
    Napi::RangeError::New(env, "response capacity out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Copy the request: the driver reads it while JS could, in theory, run again later.
  uint8_t reqBuf[kMaxRequest];
  std::memcpy(reqBuf, req.Data(), req.ByteLength());
  uint8_t respBuf[kMaxResponse];
  NsmRaw raw{};
  raw.request.addr = reinterpret_cast<uint64_t>(reqBuf);
  raw.request.len = req.ByteLength();
  raw.response.addr = reinterpret_cast<uint64_t>(respBuf);
  raw.response.len = static_cast<uint64_t>(cap);
  if (::ioctl(fd, kNsmIoctlRequest, &raw) < 0) return ThrowErrno(env, "ioctl", errno);
  // The driver rewrites response.len; never trust it beyond the buffer we gave.
  if (raw.response.len > static_cast<uint64_t>(cap)) {
    Napi::RangeError::New(env, "NSM response longer than the buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, respBuf, static_cast<size_t>(raw.response.len));
}

// close(fd: number): void
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "close(fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (::close(info[0].As<Napi::Number>().Int32Value()) < 0) return ThrowErrno(env, "close", errno);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("request", Napi::Function::New(env, Request));
  exports.Set("close", Napi::Function::New(env, Close));
  return exports;
}

}  // namespace

NODE_API_MODULE(nsm, Init)
