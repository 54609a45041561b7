{
  "targets": [
    {
      "target_name": "reprovm_spawn",
      "sources": ["native/spawn.c", "native/spawn-thread.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["native/spawn.c", "native/spawn-thread.c"]}]]
    }
  ]
}
