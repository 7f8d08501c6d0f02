{
  "targets": [
    {
      "target_name": "vsock",
      "sources": ["vsock.cc"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
