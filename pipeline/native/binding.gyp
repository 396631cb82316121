{
  "targets": [
    {
      "target_name": "cnn_lens_kernels",
      "sources": ["kernels.c"],
      "cflags": ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math", "-Wno-psabi"],
      "cflags!": ["-O2"]
    }
  ]
}
