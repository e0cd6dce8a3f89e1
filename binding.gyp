{
  "targets": [
    {
      "target_name": "slabcast",
      "sources": ["native/mmap.cc", "native/transport.cc", "native/transport-events.cc", "native/transport-poll.cc", "native/transport-writes.cc", "native/io-ring.cc", "native/mask.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # One exceptions mode, declared once: node-addon-api reports failures as pending
      # JS exceptions, and the compiler is told there are no C++ exceptions at all.
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fexceptions", "-O3"],
      "cflags_cc!": ["-fexceptions", "-O3"],
      "cflags": ["-O2", "-fno-exceptions"],
      "cflags_cc": ["-O2", "-fno-exceptions", "-std=c++17", "-Wall", "-Wextra"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO",
        "GCC_OPTIMIZATION_LEVEL": "2",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      }
    }
  ]
}
